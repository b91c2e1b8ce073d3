"""Two Delta writers in two JVMs appending to one ``s3a://`` table at once: are commits lost? (issue 18, "Delta
tables on the S3 server through s3a with a LogStore that is safe for concurrent writers").

Side by side in ONE run, on the same S3 server: Delta's default LogStore for s3a, ``S3SingleDriverLogStore``
(safe only within one driver JVM), then vodflow's ``io.vodflow.storage.S3ConditionalLogStore`` (maven/s3a:
each commit is a PutObject with ``If-None-Match: *`` through Hadoop S3A's conditional create). For each, two
writer processes (each its own Spark driver, ``local[1]``) start together and append ``--commits`` small
batches of ``--rows`` rows to a fresh table (created empty before the race); afterwards delta-rs reads the
table. A commit that Spark reported as done but that a concurrent writer's put of the same version file
replaced shows as missing rows (``rows_lost``) and fewer commit files than appends (``commits_lost``). The S3 server must honour put-if-absent (``bench/s3_put_if_absent.py``) for the
conditional store to be safe; the result names the server. Needs the s3a jars (``make jars-s3a`` builds
maven/s3a into ``$VODFLOW_HOME/jars/s3a``) and an S3 endpoint with a bucket it may create::

    .venv/bin/python bench/delta_s3_writers.py --endpoint http://127.0.0.1:29310 --server "moto 5.2.5"

Results: bench/results/delta_s3_writers.json (``runs``, one entry per ``--server``); prose in
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
OUT = ROOT / "bench" / "results" / "delta_s3_writers.json"

from benchkit import commit, merge_results  # noqa: E402
STORES = {"single_driver": "io.delta.storage.S3SingleDriverLogStore",
          "conditional": "io.vodflow.storage.S3ConditionalLogStore"}


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def s3a_jars(s) -> list[str]:
    d = Path(s.home) / "jars" / "s3a"
    jars = sorted(str(p) for p in d.glob("*.jar"))
    if not any("hadoop-aws" in Path(j).name for j in jars):
        raise SystemExit(f"s3a jars not found in {d}: run `make jars-s3a` (maven/s3a)")
    return jars


def writer(uri: str, store: str, name: str, commits: int, rows: int, ready: Path, go: Path) -> None:
    """One writer process: a Spark driver that appends ``commits`` batches to ``uri``."""
    from vodflow.settings import get_settings
    from vodflow.spark import get_spark, spark_jars

    s = get_settings()
    spark = get_spark(f"delta-s3-writer-{name}", s, extra_conf={
        "spark.master": "local[1]",
        "spark.jars": ",".join(spark_jars(s) + s3a_jars(s)),
        "spark.delta.logStore.s3a.impl": store,
        "spark.hadoop.fs.s3a.endpoint.region": s.s3_region,
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.ui.enabled": "false"})
    df = spark.range(rows).selectExpr(f"'{name}' AS writer", "CAST(id AS INT) AS row")
    df.cache().count()
    ready.touch()
    while not go.exists():
        time.sleep(0.05)
    t0, failed = time.time(), []
    for k in range(commits):
        try:
            df.selectExpr("writer", f"{k} AS batch", "row").write.format("delta").mode("append").save(uri)
        except Exception as e:  # noqa: BLE001 - a refused commit is a result here, not a crash
            failed.append(f"batch {k}: {str(e).strip().splitlines()[0][:200]}")
    print(json.dumps({"writer": name, "appends": commits - len(failed), "failed": failed,
                      "seconds": round(time.time() - t0, 1)}), flush=True)
    spark.stop()


def count(s, uri: str) -> dict:
    """Rows per writer and commit files, read with delta-rs (a third reader, not one of the writers)."""
    from deltalake import DeltaTable

    from vodflow.clients import delta_storage_options, s3_client

    dt = DeltaTable(uri.replace("s3a://", "s3://"), storage_options=delta_storage_options(s, uri))
    t = dt.to_pyarrow_table(columns=["writer", "batch"])
    per = {}
    for w in set(t.column("writer").to_pylist()):
        per[w] = sum(1 for x in t.column("writer").to_pylist() if x == w)
    bucket, _, prefix = uri.removeprefix("s3a://").partition("/")
    keys = [o["Key"] for page in s3_client(s).get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/_delta_log/") for o in page.get("Contents", [])]
    return {"rows_by_writer": per, "rows": t.num_rows, "version": dt.version(),
            "commit_files": sum(1 for k in keys if k.endswith(".json"))}


def create(s, uri: str) -> None:
    """Version 0, empty, before the race: two writers creating one table at once is a conflict Delta refuses
    by design (ProtocolChangedException), not what is measured here."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from vodflow.clients import delta_storage_options

    schema = pa.schema([("writer", pa.string()), ("batch", pa.int32()), ("row", pa.int32())])
    write_deltalake(uri.replace("s3a://", "s3://"), schema.empty_table(), mode="append",
                    storage_options=delta_storage_options(s, uri))


def trial(s, bucket: str, kind: str, commits: int, rows: int, tmp: Path) -> dict:
    uri = f"s3a://{bucket}/delta-s3-writers/{kind}-{uuid.uuid4().hex[:8]}"
    create(s, uri)
    go = tmp / f"{kind}.go"
    procs, readies = [], []
    for name in ("a", "b"):
        ready = tmp / f"{kind}.{name}.ready"
        readies.append(ready)
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--endpoint", os.environ["VODFLOW_S3_ENDPOINT"], "--server", "writer",
             "--_writer", name, "--_uri", uri, "--_store", STORES[kind],
             "--commits", str(commits), "--rows", str(rows), "--_ready", str(ready), "--_go", str(go)],
            stdout=subprocess.PIPE, text=True, env=os.environ.copy()))
    deadline = time.time() + 600
    while not all(r.exists() for r in readies):
        if any(p.poll() is not None for p in procs) or time.time() > deadline:
            raise SystemExit(f"{kind}: a writer did not start (exit codes {[p.poll() for p in procs]})")
        time.sleep(0.2)
    go.touch()
    t0 = time.time()
    outs = [p.communicate()[0] for p in procs]
    wall = time.time() - t0
    writers = [json.loads(o.strip().splitlines()[-1]) if p.returncode == 0 and o.strip() else
               {"exit": p.returncode} for p, o in zip(procs, outs)]
    got = count(s, uri)
    done = sum(w.get("appends", 0) for w in writers)  # appends that Spark reported as committed
    res = {"log_store": STORES[kind], "table": uri, "writers": writers, "wall_s": round(wall, 1),
           "appends_committed": done, "expected_rows": done * rows, **got,
           "rows_lost": done * rows - got["rows"],
           "commits_lost": done + 1 - got["commit_files"]}  # + version 0, the empty create
    log(f"  {kind}: {json.dumps({k: v for k, v in res.items() if k not in ('writers', 'table')})}")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="the S3 server to test (http://host:port)")
    ap.add_argument("--server", required=True, help="what that server is, for the results (e.g. 'moto 5.2.5')")
    ap.add_argument("--bucket", default="vodflow-delta-probe", help="bucket for the tables (created if absent)")
    ap.add_argument("--commits", type=int, default=15, help="appends per writer (15)")
    ap.add_argument("--rows", type=int, default=50, help="rows per append (50)")
    ap.add_argument("--only", choices=sorted(STORES), action="append", help="run one LogStore only")
    for hidden in ("--_writer", "--_uri", "--_store", "--_ready", "--_go"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ["VODFLOW_S3_ENDPOINT"] = args.endpoint
    os.environ["VODFLOW_SPARK_MASTER"] = "local[1]"
    # an s3a:// lake: vodflow's Spark session then carries the fs.s3a.* keys, endpoint and path-style access
    os.environ["VODFLOW_LAKE_URI"] = f"s3a://{args.bucket}/delta-s3-writers"
    if args._writer:
        writer(args._uri, args._store, args._writer, args.commits, args.rows, Path(args._ready), Path(args._go))
        return 0

    from botocore.exceptions import ClientError

    from vodflow.clients import s3_client
    from vodflow.settings import get_settings

    s = get_settings()
    s3a_jars(s)
    try:
        s3_client(s).create_bucket(Bucket=args.bucket)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": commit(),
           "command": " ".join(["bench/delta_s3_writers.py", *(argv if argv is not None else sys.argv[1:])]),
           "server": args.server, "endpoint": args.endpoint,
           "machine": {"cores": os.cpu_count(), "load_start": [round(x, 1) for x in os.getloadavg()]}}
    tmp = Path(s.home) / "tmp" / f"delta-s3-writers-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    for kind in args.only or STORES:
        log(f"{kind}: 2 writers x {args.commits} appends of {args.rows} rows on {args.server}")
        res[kind] = trial(s, args.bucket, kind, args.commits, args.rows, tmp)
    res["machine"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    # the file's date and commit are its newest run's; ``runs`` keeps one entry per S3 server tried
    merge_results(OUT, {"date": res["date"], "commit": res["commit"], "runs": {args.server: res}})
    log(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
