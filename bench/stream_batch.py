"""Benchmark: the CPU of one big stream batch, step by step, beside the floor's, on the same Kafka records.

    .venv/bin/python bench/stream_batch.py --events 250000 --rounds 3          # needs `vodflow up` (Kafka)
    .venv/bin/python bench/stream_batch.py --conf spark.sql.codegen.cache.maxEntries=100   # Spark's default
    cd <another checkout> && /path/to/.venv/bin/python /path/to/bench/stream_batch.py   # that checkout's code

Each round takes the next ``--events`` records of a private 4-partition topic (simulator events from
:mod:`traffic`, produced once) as a static Kafka DataFrame, and runs on it, in this one Spark process:
the floor (``from_json`` + cache + one Delta append, as bench/analytics_floor.py) and the service's own
batch (:func:`vodflow.analytics.stream.process_batch` into a fresh lake). Reported per round: wall
time, the JVM's CPU seconds (local mode: driver and executors), executor CPU per batch step (Spark's
stage metrics, by job description), GC time, HotSpot compilation time and the number of classes Spark
generated and compiled (Janino). CPU seconds depend much less on the machine's load than wall time; the
first round pays the JVM's warm-up. The code imported is the working directory's (``vodflow`` from
the current checkout), so two checkouts can be compared with the same script. Results:
``bench/results/stream_batch.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # the cwd's vodflow, imported before the bench helpers put their checkout first
RESULTS = Path(__file__).resolve().parent / "results" / "stream_batch.json"

TOPIC = "bench_stream_batch"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--events", type=int, default=250_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-floor", action="store_true")
    ap.add_argument("--conf", nargs="*", default=[], help="extra Spark conf items k=v (a variant)")
    ap.add_argument("--env", nargs="*", default=[], help="VODFLOW_* settings k=v for the batch")
    ap.add_argument("--no-results", action="store_true", help="do not write bench/results/stream_batch.json")
    ap.add_argument("--label", default="this", help="key of this run in the results file (runs of other "
                    "checkouts or settings are kept beside it)")
    a = ap.parse_args()
    import psutil
    from kafka import KafkaConsumer, TopicPartition

    import vodflow
    from vodflow.settings import load

    from analytics_floor import floor_batch
    from analytics_stream import make_topic
    from stream_jobs import cpu_by_step, spark_jobs
    from traffic import Traffic, produce_backlog

    print(f"vodflow from {Path(vodflow.__file__).parent}", flush=True)

    s0 = load()
    c = KafkaConsumer(bootstrap_servers=s0.kafka_bootstrap)
    parts = c.partitions_for_topic(TOPIC)
    need = a.events * (a.rounds + 1)
    have = 0
    if parts:
        tps = [TopicPartition(TOPIC, p) for p in parts]
        have = sum(c.end_offsets(tps).values())
    if have < need:
        if not parts:
            make_topic(s0, TOPIC, 4)
        print("producing", need - have, flush=True)
        produce_backlog(s0.kafka_bootstrap, TOPIC, Traffic(), need - have, 8000)
    per = a.events // 4
    c.close()

    from vodflow.analytics import stream
    from vodflow.analytics.txn import Txn
    from vodflow.spark import get_spark

    lake = Path(tempfile.mkdtemp(prefix="stream_batch_"))
    env = {**os.environ, "VODFLOW_LAKE_URI": str(lake), "VODFLOW_TOPIC_EVENTS": TOPIC,
           **dict(x.split("=", 1) for x in a.env)}
    s = load(env)
    spark = get_spark("dev-batch", s, extra_conf=dict(x.split("=", 1) for x in a.conf))
    mf = spark._jvm.java.lang.management.ManagementFactory

    cm = spark._jvm.org.apache.spark.metrics.source.CodegenMetrics

    def gc_jit():
        gc = sum(b.getCollectionTime() for b in mf.getGarbageCollectorMXBeans()) / 1000
        h = cm.METRIC_COMPILATION_TIME()
        jit = mf.getCompilationMXBean().getTotalCompilationTime() / 1000
        return gc, jit, h.getCount(), h.getSnapshot().getMean() * h.getCount() / 1000
    jvm = psutil.Process(spark.sparkContext._gateway.proc.pid)

    me = psutil.Process()

    def cpu():
        t = jvm.cpu_times()
        return t.user + t.system

    def py_cpu():   # this process: the driver's Python side (delta-rs writes, pandas, DuckDB of a small batch)
        t = me.cpu_times()
        return t.user + t.system

    def kafka_df(i):
        start = {TOPIC: {str(p): i * per for p in range(4)}}
        end = {TOPIC: {str(p): (i + 1) * per for p in range(4)}}
        return (spark.read.format("kafka").option("kafka.bootstrap.servers", s.kafka_bootstrap)
                .option("subscribe", TOPIC).option("startingOffsets", json.dumps(start))
                .option("endingOffsets", json.dumps(end)).load())

    stream.prepare(spark, s)
    cfg = stream.StreamConfig.from_settings(s)
    runner = stream.BatchRunner(s, cfg)
    out = []
    for i in range(a.rounds):
        df = kafka_df(i)
        if not a.skip_floor:
            t0, c0 = time.time(), cpu()
            n = floor_batch(df, i, lake / "floor")
            fl = (time.time() - t0, cpu() - c0)
            print(f"round {i} floor: {n} rows {fl[0]:.1f} s wall {fl[1]:.1f} cpu-s", flush=True)
        else:
            fl = (None, None)
        last_job = max([j["jobId"] for j in spark_jobs(spark.sparkContext)], default=-1)
        g0 = gc_jit()
        t0, c0, p0 = time.time(), cpu(), py_cpu()
        r = stream.process_batch(spark, s, cfg, Txn("dev", i), kafka_df(i), runner)
        job = (time.time() - t0, cpu() - c0, py_cpu() - p0)
        print(f"round {i} job: {r['rows']} rows {job[0]:.1f} s wall {job[1]:.1f} JVM cpu-s {job[2]:.1f} Python cpu-s ratio "
              f"{(fl[0] / job[0]) if fl[0] else 0:.2f} steps {json.dumps(r['steps'])}", flush=True)
        g1 = gc_jit()
        print(f"   gc {g1[0] - g0[0]:.1f} s jit {g1[1] - g0[1]:.1f} s janino compiles {g1[2] - g0[2]} "
              f"~{g1[3] - g0[3]:.1f} s", flush=True)
        by_step = cpu_by_step(spark.sparkContext, last_job)
        print("   cpu by step", by_step, flush=True)
        out.append({"floor_wall_s": fl[0] and round(fl[0], 1), "floor_cpu_s": fl[1] and round(fl[1], 1),
                    "job_wall_s": round(job[0], 1), "job_cpu_s": round(job[1], 1), "job_python_cpu_s": round(job[2], 1), "steps_wall_s": r["steps"],
                    "executor_cpu_s_by_step": by_step, "gc_s": round(g1[0] - g0[0], 1),
                    "hotspot_compile_s": round(g1[1] - g0[1], 1), "janino_compiles": g1[2] - g0[2]})
    print("load", os.getloadavg())
    if not a.no_results:
        import subprocess
        from datetime import datetime, timezone
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        last = out[-1]
        prev = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        runs = prev.get("runs", {}) if isinstance(prev.get("runs"), dict) else {}
        runs[a.label] = {
            "events": a.events, "rounds": out, "conf": a.conf, "env": a.env,
            "job_cpu_s_last": last["job_cpu_s"], "floor_cpu_s_last": last["floor_cpu_s"],
            "cpu_ratio_last": last["floor_cpu_s"] and round(last["floor_cpu_s"] / last["job_cpu_s"], 3),
            "load_end": os.getloadavg(), "command": "bench/stream_batch.py " + " ".join(sys.argv[1:]),
            "cwd": str(ROOT), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit}
        RESULTS.write_text(json.dumps({"runs": runs, "date": runs[a.label]["date"], "commit": commit},
                                      indent=2) + "\n")
    spark.stop()
    shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    main()
