"""Benchmark: the floor of Kafka → Spark Structured Streaming → Delta on this machine.

    .venv/bin/python bench/analytics_floor.py --rate 20000 --seconds 90 --commits 1 4 10   # needs `vodflow up`

What is the most this machine can carry from Kafka into Delta, whatever the job does? Each run
produces simulator events (real payloads, ~400 bytes of JSON each) to a private 4-partition topic
at ``--rate`` events/s with Kafka's own Java producer (``org.apache.kafka.tools.ProducerPerformance``,
so that the producer costs little CPU: kafka-python needs about a core per 4k events/s), while a
minimal streaming query in this process - the same Spark session builder and settings as the
analytics job (``local[2]``, 4 shuffle partitions, ``--trigger``) - parses every record with
``from_json`` and appends it to ``N`` Delta tables per micro-batch (``--commits``: 1 is the
floor of any exactly-once Kafka→Delta job; the analytics job makes about 10 commits per cycle, most
of them MERGEs, which cost more than appends). No dedup, no quarantine, no gold: an upper bound.

Reported per run: producer rate reached, rate into Delta (rows committed ÷ seconds from the first
record produced to the last commit), and freshness (Kafka timestamp → the commit of the batch
holding the record) at p50/p99. Results: ``bench/out/analytics_floor.json``; discussion in
``docs/benchmarks-analytics.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from analytics_stream import drop_topic, events_pool, make_topic  # noqa: E402
from vodflow.settings import load  # noqa: E402

OUT = ROOT / "bench" / "out"


def producer_argv(s, topic: str, payloads: Path, rate: int, seconds: int) -> list[str]:
    from vodflow.java import find_java
    from vodflow.stack.services import _jars_classpath

    cp = _jars_classpath(s, "kafka")
    if not any(s.home.joinpath("jars", "kafka").glob("kafka-tools-4*.jar")):
        raise SystemExit(f"kafka-tools jar missing in {cp}: run `make jars`")
    return [find_java(s), "-Xmx256m", "-XX:+UseSerialGC", "-cp", cp,
            f"-Dlog4j2.configurationFile={s.home / 'conf' / 'kafka-log4j2.yaml'}",
            "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
            "--num-records", str(rate * seconds), "--throughput", str(rate), "--payload-file", str(payloads),
            "--producer-props", f"bootstrap.servers={s.kafka_bootstrap}", "acks=1", "linger.ms=50",
            "batch.size=524288", "compression.type=lz4"]


def floor_batch(df, batch_id: int, lake: Path, commits: int = 1) -> int:
    """One micro-batch of the floor: ``from_json`` of every Kafka record, cached, then ``commits``
    idempotent Delta appends (tables ``lake/t0`` ...); returns the batch's rows."""
    from pyspark.sql import functions as F

    from vodflow.analytics.spark_schema import event_schema

    parsed = (df.select(F.from_json(F.col("value").cast("string"), event_schema()).alias("e"),
                        F.col("timestamp").alias("kafka_ts"), "partition", "offset")
              .select("e.*", "kafka_ts", "partition", "offset")
              .withColumn("batch_id", F.lit(batch_id))).persist()
    try:
        n = parsed.count()
        for i in range(commits if n else 0):
            (parsed.write.format("delta").mode("append")
             .options(txnAppId=f"floor-{i}", txnVersion=str(batch_id)).save(str(lake / f"t{i}")))
        return n
    finally:
        parsed.unpersist()


def start_floor_query(spark, s, topic: str, lake: Path, commits: int, trigger: str, rows_in: dict, commits_at: dict,
                      max_offsets: int | None = None):
    """The floor query (:func:`floor_batch` per micro-batch); records each batch's rows and commit time in
    ``rows_in`` / ``commits_at`` (batch id -> ...)."""

    def batch(df, batch_id: int) -> None:
        n = floor_batch(df, batch_id, lake, commits)
        if n:
            commits_at[batch_id] = time.time()
            rows_in[batch_id] = n

    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", s.kafka_bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest"))
    if max_offsets:
        reader = reader.option("maxOffsetsPerTrigger", max_offsets)
    return (reader.load().writeStream.option("checkpointLocation", str(lake / "_ckpt")).foreachBatch(batch)
            .trigger(processingTime=trigger).start())


def one_run(spark, s, args, commits: int, payloads: Path) -> dict:
    from pyspark.sql import functions as F

    topic = f"bench_floor_{uuid.uuid4().hex[:8]}"
    lake = Path(tempfile.mkdtemp(prefix="floor_", dir=OUT))
    make_topic(s, topic, args.partitions)
    commits_at: dict[int, float] = {}
    rows_in: dict[int, int] = {}
    q = start_floor_query(spark, s, topic, lake, commits, args.trigger, rows_in, commits_at)
    total = args.rate * args.seconds
    t0 = time.time()
    prod = subprocess.run(producer_argv(s, topic, payloads, args.rate, args.seconds),
                          capture_output=True, text=True)
    produce_s = time.time() - t0
    summary = [ln for ln in prod.stdout.splitlines() if "records sent" in ln]
    if prod.returncode != 0 or not summary:
        q.stop()
        raise SystemExit(f"producer failed ({prod.returncode}): {prod.stderr[-800:]}")
    deadline = time.time() + args.drain
    while sum(rows_in.values()) < total and time.time() < deadline and q.isActive:
        time.sleep(1)
    q.stop()
    done = sum(rows_in.values())
    res = {"commits_per_batch": commits, "offered_rate": args.rate, "seconds": args.seconds,
           "produced": total, "produce_s": round(produce_s, 1), "producer_summary": summary[-1].strip(),
           "produce_rate": round(total / produce_s), "rows_in_delta": done, "batches": len(rows_in),
           "drained": done >= total}
    if rows_in:
        last = max(commits_at.values())
        res["rate_into_delta"] = round(done / (last - t0))
        ct = spark.createDataFrame([(b, t) for b, t in commits_at.items()], "batch_id INT, committed DOUBLE")
        fr = (spark.read.format("delta").load(str(lake / "t0")).join(ct, "batch_id")
              .select((F.col("committed") - F.col("kafka_ts").cast("double")).alias("f")))
        p = fr.agg(F.percentile_approx("f", [0.5, 0.99], 10000)).first()[0]
        res["freshness_p50_s"], res["freshness_p99_s"] = round(p[0], 1), round(p[1], 1)
        res["batch_rows"] = [rows_in[b] for b in sorted(rows_in)]
        res["batch_seconds"] = [round(commits_at[b] - (commits_at.get(b - 1) or t0), 1) for b in sorted(rows_in)]
    drop_topic(s, topic)
    shutil.rmtree(lake, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rate", type=int, default=20000, help="events/s offered (default 20000)")
    ap.add_argument("--seconds", type=int, default=90, help="seconds of producing (default 90)")
    ap.add_argument("--commits", type=int, nargs="+", default=[1, 4, 10],
                    help="Delta appends per micro-batch, one run each (default 1 4 10)")
    ap.add_argument("--trigger", default="10 seconds", help="processing-time trigger (default 10 seconds)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--drain", type=int, default=300, help="seconds to wait for the stream after producing")
    args = ap.parse_args(argv)

    s = load()
    OUT.mkdir(parents=True, exist_ok=True)
    payloads = OUT / "floor_payloads.txt"
    if not payloads.is_file():
        with open(payloads, "wb") as f:
            for _, v in events_pool(100_000):
                f.write(v + b"\n")
    from vodflow.spark import get_spark

    spark = get_spark("vodflow-bench-floor", s)
    load_start = os.getloadavg()
    results = []
    for c in args.commits:
        print(f"== {c} Delta commit(s) per batch, offered {args.rate}/s for {args.seconds} s", flush=True)
        r = one_run(spark, s, args, c, payloads)
        print(json.dumps(r), flush=True)
        results.append(r)
    out = {"machine": {"cores": os.cpu_count(), "load_start": load_start, "load_end": os.getloadavg()},
           "trigger": args.trigger, "partitions": args.partitions, "runs": results}
    (OUT / "analytics_floor.json").write_text(json.dumps(out, indent=2))
    print("| Delta commits per batch | producer rate | rate into Delta | batches | p50 / p99 freshness |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['commits_per_batch']} | {r['produce_rate']:,}/s | {r.get('rate_into_delta', 0):,}/s"
              f"{'' if r['drained'] else ' (not drained)'} | {r['batches']} | "
              f"{r.get('freshness_p50_s')} s / {r.get('freshness_p99_s')} s |")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
