"""Benchmark: Spark jobs (and wall time) of one small analytics-stream batch, per batch setting, in one run.

    .venv/bin/python bench/stream_jobs.py                      # needs `vodflow up` (Kafka); ~5-10 min
    .venv/bin/python bench/stream_jobs.py --variants "spark.sql.adaptive.enabled=true" ""
    .venv/bin/python bench/stream_jobs.py --variants VODFLOW_EVENTS_LOCAL_ROWS=0 VODFLOW_EVENTS_LOCAL_ROWS=20000

A small batch's cost is fixed cost, and on Spark fixed cost is jobs (each one scheduled, planned and
run, whatever its size). For each variant (stream settings such as ``VODFLOW_EVENTS_LOCAL_ROWS``
and/or ``VODFLOW_EVENTS_SPARK_CONF`` items; default: Spark's writers vs delta-rs for small batches),
in one Spark process: a fresh lake and a private topic, a backlog drained with the service's
code (``stream.run_available_now``), then ``--rounds`` batches of 8 events; the jobs each batch ran
are counted from Spark's own REST API and grouped by what they did (Delta's job descriptions: MERGE
phases, snapshot computations, appends). The job count does not depend on the machine's load; the
wall time does (the load is recorded). Results: ``bench/results/stream_jobs.json``, prose in
docs/benchmarks-analytics.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RESULTS = ROOT / "bench" / "results" / "stream_jobs.json"
DEFAULT_VARIANTS = ("VODFLOW_EVENTS_LOCAL_ROWS=0", "VODFLOW_EVENTS_LOCAL_ROWS=20000")


def kind(description: str) -> str:
    """A job's description → what it did (Delta's phase names, numbers dropped)."""
    for k in ("Compute snapshot", "materialize source", "scanning files for matches", "Writing modified data",
              "writing new files for only inserts", "Filtering files"):
        if k in description:
            return k
    return "other (reads, counts, appends)"


def spark_jobs(sc) -> list[dict]:
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/jobs"
    return json.load(urllib.request.urlopen(url))


def run_variant(spark, s, conf_text: str, backlog: int, rounds: int, workdir: Path) -> dict:
    from traffic import Traffic, _iso, _send, produce_backlog, producer

    from vodflow.analytics import stream
    from vodflow.settings import load

    lake = workdir / f"lake-{abs(hash(conf_text))}"
    topic = f"bench-jobs-{int(time.time() * 1000)}"
    settings, spark_conf = split_variant(conf_text)
    env = {**os.environ, "VODFLOW_LAKE_URI": str(lake), "VODFLOW_TOPIC_EVENTS": topic, **settings}
    if spark_conf or not settings:  # a variant of settings only keeps the default batch conf
        env["VODFLOW_EVENTS_SPARK_CONF"] = spark_conf
    vs = load(env)
    cfg = stream.StreamConfig.from_settings(vs)  # its sql_conf: the variant
    traffic = Traffic(pool_size=20_000)
    produce_backlog(vs.kafka_bootstrap, topic, traffic, backlog, 8000)
    sc = spark.sparkContext
    hi = max((j["jobId"] for j in spark_jobs(sc)), default=-1)
    t0 = time.monotonic()
    stream.run_available_now(spark, vs, cfg)
    backlog_run = {"events": backlog, "wall_s": round(time.monotonic() - t0, 2),
                   "steps": last_batch_steps(vs), "cpu_s_by_step": cpu_by_step(sc, hi),
                   "load": round(os.getloadavg()[0], 1)}
    print(f"  {conf_text or '(Spark defaults)'}: backlog of {backlog}: {backlog_run['wall_s']} s; Spark CPU s by "
          f"step {backlog_run['cpu_s_by_step']}", flush=True)
    p = producer(vs.kafka_bootstrap)
    out = []
    for i in range(rounds):
        hi = max((j["jobId"] for j in spark_jobs(sc)), default=-1)
        for _ in range(8):
            k, v = traffic.event(_iso(datetime.now(timezone.utc)))
            _send(p, topic, k, v)
        p.flush()
        t0 = time.monotonic()
        stream.run_available_now(spark, vs, cfg)
        wall = time.monotonic() - t0
        jobs = [j for j in spark_jobs(sc) if j["jobId"] > hi]
        by_kind = collections.Counter(kind(j.get("description") or j.get("name", "")) for j in jobs)
        by_step = collections.Counter(step_of(j) for j in jobs)
        in_batch = sum(n for k, n in by_step.items() if k != "other")
        tasks = sum(j.get("numTasks", 0) for j in jobs)
        steps = last_batch_steps(vs)
        out.append({"jobs": len(jobs), "batch_jobs": in_batch, "jobs_by_step": dict(by_step), "tasks": tasks, "wall_s": round(wall, 2), "batch_s": steps.get("total"),
                    "steps": steps, "by_kind": dict(by_kind), "load": round(os.getloadavg()[0], 1)})
        print(f"  {conf_text or '(Spark defaults)'}: round {i}: {len(jobs)} jobs ({in_batch} in the batch's steps), "
              f"{tasks} tasks, {wall:.1f} s "
              f"(the batch itself {steps.get('total')} s)", flush=True)
    shutil.rmtree(lake, ignore_errors=True)
    last = out[-1]
    return {"conf": conf_text, "backlog_run": backlog_run, "rounds": out, "jobs": last["jobs"],
            "batch_jobs": last["batch_jobs"], "tasks": last["tasks"],
            "wall_s_median": sorted(r["wall_s"] for r in out)[len(out) // 2],
            "batch_s_median": sorted(r["batch_s"] or 0 for r in out)[len(out) // 2]}


def step_of(job: dict) -> str:
    """The stream step that ran a Spark job (its description ``vodflow batch <id>: <step>``), else
    'other' (the query's start: table registration, offsets, the first batch's watermark read)."""
    m = re.match(r"vodflow batch \d+: (\S+)", job.get("description") or "")
    return m.group(1) if m else "other"


def cpu_by_step(sc, after_job: int) -> dict[str, float]:
    """Executor CPU seconds of the Spark jobs after ``after_job``, by the stream step that ran them
    (job descriptions ``vodflow batch <id>: <step>``; CPU time does not depend on the load the way wall
    time does). Jobs without a step description (the query's own planning) count as 'other'."""
    base = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}"
    stages = {s["stageId"]: s for s in json.load(urllib.request.urlopen(f"{base}/stages"))}
    out: collections.Counter = collections.Counter()
    for j in spark_jobs(sc):
        if j["jobId"] <= after_job:
            continue
        step = step_of(j)
        for sid in j.get("stageIds", []):
            st = stages.get(sid)
            if st and st.get("status") == "COMPLETE":
                out[step] += (st.get("executorCpuTime", 0) + st.get("executorDeserializeCpuTime", 0)) / 1e9
    return {k: round(v, 2) for k, v in out.most_common()}


def split_variant(text: str) -> tuple[dict[str, str], str]:
    """'VODFLOW_EVENTS_LOCAL_ROWS=0,spark.sql.adaptive.enabled=false' → ({VODFLOW_...: '0'}, the Spark
    conf): VODFLOW_* items are settings of the stream, the rest its batch Spark conf."""
    settings, conf = {}, []
    for item in filter(None, (x.strip() for x in text.split(","))):
        k, _, v = item.partition("=")
        if k.startswith("VODFLOW_"):
            settings[k] = v
        else:
            conf.append(item)
    return settings, ",".join(conf)


def last_batch_steps(s) -> dict:
    """The newest gold_progress row's step times (seconds), 'total' included: the batch's own time."""
    from deltalake import DeltaTable

    from vodflow.analytics.stream import GOLD_PROGRESS

    t = DeltaTable(GOLD_PROGRESS.location(s)).to_pyarrow_table(columns=["batch_id", "steps"]).to_pylist()
    row = max(t, key=lambda r: r["batch_id"])
    return {k: v for k, v in row["steps"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                    help="variants to compare: comma-separated VODFLOW_* settings of the stream and/or Spark "
                         "conf items for VODFLOW_EVENTS_SPARK_CONF (\"\" = Spark's defaults)")
    ap.add_argument("--backlog", type=int, default=20_000, help="events drained before the small batches")
    ap.add_argument("--rounds", type=int, default=3, help="8-event batches per variant (the first pays JIT)")
    args = ap.parse_args(argv)

    from vodflow.settings import get_settings
    from vodflow.spark import get_spark

    s = get_settings()
    spark = get_spark("bench-stream-jobs", s)
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip(),
           "machine": {"cores": os.cpu_count(), "load_start": list(os.getloadavg())},
           "command": "bench/stream_jobs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "backlog": args.backlog, "variants": []}
    with tempfile.TemporaryDirectory(prefix="vodflow-stream-jobs-") as tmp:
        for v in args.variants:
            res["variants"].append(run_variant(spark, s, v, args.backlog, args.rounds, Path(tmp)))
    res["machine"]["load_end"] = list(os.getloadavg())
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    for v in res["variants"]:
        print(f"{v['conf'] or '(Spark defaults)'}: {v['jobs']} jobs ({v['batch_jobs']} in the batch's steps), "
              f"{v['tasks']} tasks per small batch, "
              f"median {v['wall_s_median']} s")
    print(f"written {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
