"""Shared fixtures of the recommendation tests: one Spark session for the whole run.

The fixture is named ``recs_spark`` so it cannot shadow a project-wide ``spark``
fixture; when a session already exists (another fixture made it), it is reused.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import numpy as np
import pandas as pd
import pytest


def free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: run `bash scripts/system-deps.sh` (Debian package redis-server)")
    port, d = free_port(), tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)




@pytest.fixture(scope="session")
def recs_spark(tmp_path_factory):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from vodflow.recs.als import ensure_checkpoint_dir
    from vodflow.spark import SparkSetupError, get_spark

    existed = SparkSession.getActiveSession() is not None
    try:
        spark = get_spark("vodflow-recs-tests")
    except SparkSetupError as exc:  # no Java / no Delta jars on this machine
        pytest.skip(f"Spark unavailable: {exc}")
    ensure_checkpoint_dir(spark, tmp_path_factory.mktemp("als-checkpoints"))
    # Delta rebuilds table snapshots with 50 partitions by default: far too many for local[2].
    spark.conf.set("spark.databricks.delta.snapshotPartitions", "2")
    yield spark
    if not existed:
        spark.stop()


def planted_interactions(n_users: int = 240, n_items: int = 160, n_groups: int = 4, seed: int = 7,
                         p_in: float = 0.25, p_out: float = 0.01) -> pd.DataFrame:
    """Users and items in ``n_groups`` taste groups: users mostly rate items of their own group.

    A mild global popularity tilt makes popularity a non-trivial baseline, but the
    group structure is what a collaborative model has to find.
    """
    rng = np.random.default_rng(seed)
    ug = rng.integers(0, n_groups, n_users)
    ig = rng.integers(0, n_groups, n_items)
    tilt = np.linspace(1.5, 0.5, n_items)  # low item ids a bit more popular overall
    p = np.where(ug[:, None] == ig[None, :], p_in, p_out) * tilt[None, :]
    hit = rng.random((n_users, n_items)) < np.clip(p, 0, 1)
    u, i = np.nonzero(hit)
    ratings = rng.integers(1, 6, len(u)).astype(float)
    return pd.DataFrame({"userID": u + 1, "itemID": i + 1, "rating": ratings,
                         "timestamp": 1_000_000 + np.arange(len(u))})


@pytest.fixture(scope="session")
def planted() -> pd.DataFrame:
    return planted_interactions()
