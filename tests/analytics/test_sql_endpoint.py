"""The SQL endpoint (Spark Connect over the lake): a real server process on a free port over the
hand-computed lake of ``lakekit``, reached with pyspark's Spark Connect client (no mocks); every
example query of docs/analytics.md runs through it (in its Spark form where the docs give one) and
returns the hand-computed answers. One server JVM for the module (about 30-60 s to start)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta, timezone

import pytest
from lakekit import (A_ENDED, A_STILL_WATCHING, COMPLETION_30_DAYS, NEWEST_EVENT, QUALITY_BY_DEVICE, TOP_7_DAYS,
                     VIDEO_A, build_lake)
from notebookkit import output_text, run_notebook
from test_query import doc_queries

from vodflow.analytics.sql_endpoint import EndpointError, endpoint, server_conf
from vodflow.settings import get_settings, load
from vodflow.stack import health
from vodflow.stack.services import sql_endpoint_service

START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spark_form(name: str) -> str:
    q = doc_queries()
    return q.get(f"{name} (Spark SQL)", q[name])


def test_endpoint_url():
    assert endpoint(load({"VODFLOW_SQL_URL": "sc://10.0.0.5:15002"})) == ("10.0.0.5", 15002)
    assert endpoint(load({})) == ("127.0.0.1", 15002)
    for bad in ("http://127.0.0.1:15002", "sc://127.0.0.1", "127.0.0.1:15002"):
        with pytest.raises(EndpointError, match="sc://<host>:<port>"):
            endpoint(load({"VODFLOW_SQL_URL": bad}))
    assert server_conf("127.0.0.1", 1)["spark.plugins"] == "org.apache.spark.sql.connect.SparkConnectPlugin"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m vodflow.analytics.sql_endpoint`` over a fresh lakekit lake; yields its sc:// URL."""
    d = tmp_path_factory.mktemp("sql-endpoint")
    lake = build_lake(d / "lake")
    url = f"sc://127.0.0.1:{free_port()}"
    # the stack's own service definition, in a private home (the stack's endpoint may be running)
    env = {**os.environ, "VODFLOW_HOME": str(d / "home"), "VODFLOW_LAKE_URI": lake.lake_uri, "VODFLOW_SQL_URL": url,
           "VODFLOW_SPARK_JARS_DIR": str(get_settings().spark_jars_dir)}
    svc = sql_endpoint_service(load(env))
    status = d / "home" / "run" / "sql-endpoint.json"
    assert svc.argv[svc.argv.index("--status-file") + 1] == str(status)
    with open(d / "server.log", "wb") as logf:
        proc = subprocess.Popen([*svc.argv, "--refresh", "2"], env={**env, **svc.env}, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (status.exists() and json.loads(status.read_text())["tables"]):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the SQL endpoint did not start (exit {proc.poll()}):\n"
                            + (d / "server.log").read_text()[-3000:])
            time.sleep(1)
        yield url, status
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def spark(server):
    from pyspark.sql.connect.session import SparkSession

    session = SparkSession.builder.remote(server[0]).create()
    yield session
    session.stop()


def rows(spark, name: str) -> list[dict]:
    return [r.asDict() for r in spark.sql(spark_form(name)).collect()]


@pytest.mark.slow  # one server JVM for the module: 96-216 s for the three at load 15 on 2 cores
def test_every_written_table_is_registered_by_name(server, spark):
    names = sorted(r.tableName for r in spark.sql("SHOW TABLES IN vodflow").collect())
    assert names == ["events", "playback_quality", "quarantine", "sessions", "title_daily", "titles"]
    assert json.loads(server[1].read_text())["tables"] == names
    assert health.sql_endpoint(server[1], server[0]) == (True, "6 tables")       # what `vodflow status` shows
    assert spark.table("vodflow.title_daily").count() == 6


@pytest.mark.slow
def test_doc_queries_through_spark_connect(spark):
    top = rows(spark, "top titles by watch time")
    assert [(r["video_id"], r["title"], r["views"], float(r["watch_hours"])) for r in top] == TOP_7_DAYS

    comp = rows(spark, "completion rate per title")
    assert [(r["video_id"], r["title"], r["views"], r["completions"]) for r in comp] == \
        [x[:4] for x in COMPLETION_30_DAYS]
    assert [float(r["completion_rate"]) for r in comp] == pytest.approx([x[4] for x in COMPLETION_30_DAYS], abs=1e-4)

    q = spark_form("drop-off curve of one title")
    assert VIDEO_A in q and "posexplode" in q
    curve = {r["from_pct"] // 5 + 1: r for r in rows(spark, "drop-off curve of one title")}
    assert {b: r["ended"] for b, r in curve.items() if r["ended"]} == A_ENDED
    for b, share in A_STILL_WATCHING.items():
        assert float(curve[b]["still_watching"]) == pytest.approx(share), b

    quality = {r["device"]: (r["rebuffers"], float(r["rebuffer_ratio"]), r["startups"], r["startup_p50_ms"],
                             r["startup_p95_ms"]) for r in rows(spark, "playback quality by device")}
    assert set(quality) == set(QUALITY_BY_DEVICE)
    for device, expected in QUALITY_BY_DEVICE.items():
        assert quality[device] == pytest.approx(expected, abs=1e-6), device

    reasons = [(r["kind"], r["reason"], r["records"]) for r in rows(spark, "quarantine reasons")]
    assert reasons == [("invalid", "position_s: must be >= 0", 3), ("late", "beyond the watermark", 2),
                       ("malformed", "not JSON", 1)]

    (fresh,) = rows(spark, "freshness")
    newest = fresh["newest_event"]                   # the client gives naive datetimes in UTC (the session zone)
    assert (newest.replace(tzinfo=timezone.utc) if newest.tzinfo is None else newest) == NEWEST_EVENT
    assert isinstance(fresh["lag"], timedelta) and fresh["lag"] >= timedelta(0)

    (named,) = rows(spark, "titles by name")
    assert (named["video_id"], named["title"]) == (VIDEO_A, "Big Buck Bunny")


@pytest.mark.slow
def test_the_notebook_answers_the_analysts_questions(server, monkeypatch, tmp_path):
    outs = run_notebook(server[0], tmp_path, monkeypatch)
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) == 4                    # completion, drop-off curves, QoE by rung and device, titles by region
    text = output_text(outs)
    assert "Big Buck Bunny" in text and "Bikes" in text and "connected to " + server[0] in text
    assert "no views" not in text and "no sessions" not in text and "no playback" not in text


@pytest.mark.slow
def test_readme_query_through_spark_connect(spark):
    """The one query the README shows beside the connection string, as written there."""
    import re

    from vodflow.settings import REPO_ROOT

    (query,) = re.findall(r'remote\("sc://127\.0\.0\.1:15002"\)\.getOrCreate\(\)\.sql\("([^"]+)"\)',
                          (REPO_ROOT / "README.md").read_text())
    got = {r["title"]: r["views"] for r in spark.sql(query).collect()}
    assert got == {"Big Buck Bunny": 40, "Bikes": 105}
