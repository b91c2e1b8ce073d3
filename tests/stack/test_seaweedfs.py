"""The lake's own S3 server (vodflow/stack/seaweedfs.py, service lake-s3): its command line, ports and errors, and -
when `make seaweedfs` has built `weed` in this checkout's home - the real server: conditional puts refused with 412,
delta-rs commits through the lake's options."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from vodflow.settings import load
from vodflow.stack import profile, seaweedfs
from vodflow.stack.manager import StackError, preflight
from vodflow.stack.process import ServiceError
from vodflow.stack.services import groups, lake_s3_service


def cluster(tmp_path: Path, **over):
    return load({**profile.values("cluster"), "VODFLOW_HOME": str(tmp_path), **over})


def test_the_cluster_profile_runs_its_lake_on_lake_s3(tmp_path):
    s = cluster(tmp_path)
    assert seaweedfs.on(s) and s.lake_uri.startswith("s3a://") and s.lake_s3_endpoint != s.s3_endpoint
    assert "lake-s3" in groups(s)[0]  # up before the stream, Spark's applications and the maintenance DAG
    svc = lake_s3_service(s)
    p = seaweedfs.ports(s)
    assert svc.argv[:2] == [str(tmp_path / "bin" / "weed"), "mini"]
    assert f"-s3.port={p['s3']}" in svc.argv and f"-bucket={s.lake_bucket}" in svc.argv
    assert sorted(port for _, port in svc.ports) == list(range(p["s3"], p["s3"] + len(seaweedfs.PORT_OFFSETS)))
    assert svc.env == {"AWS_ACCESS_KEY_ID": s.lake_s3_access_key, "AWS_SECRET_ACCESS_KEY": s.lake_s3_secret_key}
    # embedded: no lake server, a local lake
    e = load({"VODFLOW_HOME": str(tmp_path)})
    assert not seaweedfs.on(e) and "lake-s3" not in {n for g in groups(e) for n in g}


def test_bad_settings_and_a_missing_binary_name_the_fix(tmp_path):
    with pytest.raises(seaweedfs.LakeS3Error, match="VODFLOW_LAKE_S3_ENDPOINT"):
        seaweedfs.address(cluster(tmp_path, VODFLOW_LAKE_S3_ENDPOINT="https://s3.example.com"))
    with pytest.raises(seaweedfs.LakeS3Error, match="s3a://<bucket>"):
        seaweedfs.bucket(cluster(tmp_path, VODFLOW_LAKE_URI=str(tmp_path / "lake")))
    svc = lake_s3_service(cluster(tmp_path))
    with pytest.raises(ServiceError, match="make seaweedfs"):
        svc.prestart()
    for part in ("kafka", "s3proxy", "spark"):  # `make jars` done; the cluster's own pieces not yet
        (tmp_path / "jars" / part).mkdir(parents=True)
        (tmp_path / "jars" / part / f"{part}.jar").touch()
    s = cluster(tmp_path, VODFLOW_LADDER="fixed")
    with pytest.raises(StackError, match="make jars-s3a"):
        preflight(s)
    (tmp_path / "jars" / "s3a").mkdir()
    (tmp_path / "jars" / "s3a" / "hadoop-aws-3.5.0.jar").touch()
    with pytest.raises(StackError, match="make seaweedfs"):
        preflight(s)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "weed").touch()
    preflight(s)


def _free_base(n: int) -> int:
    """A port P with P .. P+n-1 free now."""
    for _ in range(50):
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            base = sk.getsockname()[1]
        if base + n > 65535:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as sk:
                ok = sk.connect_ex(("127.0.0.1", p)) != 0
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free port range")


# `make seaweedfs` puts weed in the home it runs for: this checkout's, or the cluster profile's
WEED = next((w for w in (load(dict(os.environ)).home / "bin" / "weed",
                         Path(profile.values("cluster")["VODFLOW_HOME"]) / "bin" / "weed") if w.is_file()),
            Path("/nonexistent/weed"))


@pytest.mark.skipif(not WEED.is_file(), reason="weed not built in this home: `make seaweedfs`")
def test_lake_s3_serves_the_lake_with_an_atomic_put_if_absent(tmp_path):
    """The real server, as `vodflow up` runs it: healthy on the lake's bucket, a second conditional put of a key
    refused (412) with the first body kept, and delta-rs appends committed through the lake's options."""
    import pyarrow as pa
    from botocore.exceptions import ClientError
    from deltalake import DeltaTable, write_deltalake

    from vodflow.clients import delta_storage_options, lake_s3_client
    from vodflow.stack import process

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "weed").symlink_to(WEED)
    s = cluster(tmp_path, VODFLOW_LAKE_S3_ENDPOINT=f"http://127.0.0.1:{_free_base(len(seaweedfs.PORT_OFFSETS))}")
    svc = lake_s3_service(s)
    assert process.start(svc) == "started"
    try:
        process.wait_healthy(svc, 120, threading.Event())
        c = lake_s3_client(s)
        c.put_object(Bucket=s.lake_bucket, Key="probe", Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as e:
            c.put_object(Bucket=s.lake_bucket, Key="probe", Body=b"second", IfNoneMatch="*")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        assert c.get_object(Bucket=s.lake_bucket, Key="probe")["Body"].read() == b"first"
        assert seaweedfs.refused_puts(s) == 1  # its metrics count the refused put
        uri, opts = s.table_path("t"), delta_storage_options(s)
        for k in range(3):
            write_deltalake(uri, pa.table({"k": [k]}), mode="append", storage_options=opts)
        dt = DeltaTable(uri, storage_options=opts)
        assert dt.version() == 2 and sorted(dt.to_pyarrow_table().column("k").to_pylist()) == [0, 1, 2]
    finally:
        process.stop(svc)
