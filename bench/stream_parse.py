"""Benchmark: CPU per event of the stream's parse-and-validate stage, per JVM option set, in one run.

    .venv/bin/python bench/stream_parse.py                  # ~5 min; no services needed
    .venv/bin/python bench/stream_parse.py --events 200000 --rounds 6

The stage (:func:`vodflow.analytics.validate_spark.parse_and_check`) is one wide projection: Spark
generates a single method for it that is larger than the 8,000 bytes of bytecode HotSpot compiles by
default (Spark logs "Generated method too long to be JIT compiled"), so it ran in the interpreter.
For each variant, in its own Spark process (JVM options are fixed at launch): the simulator's events
as JSON text, cached, then ``--rounds`` passes of three projections written to Spark's ``noop`` sink:
``from_json`` alone, ``json_object_keys`` alone, and the whole stage. The figure is the driver JVM's
CPU seconds per 100,000 events (local mode: the executor threads are in that JVM), which depends less
on the machine's load than wall time; the first rounds pay code generation and JIT warm-up, so the
steady figure is the median of the last half of the rounds. Results: ``bench/results/stream_parse.json``,
prose in docs/benchmarks-analytics.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "stream_parse.json"
# the JVM as HotSpot ships it (huge generated methods interpreted) vs vodflow's session builder
VARIANTS = {"hotspot-default": "-XX:+DontCompileHugeMethods", "vodflow": None}


def measure(variant: str, events: int, rounds: int) -> dict:
    """One variant, in this process: CPU-s per 100k events per projection and round."""
    sys.path.insert(0, str(ROOT))
    import psutil
    from pyspark.sql import functions as F

    from vodflow.analytics.simulate import simulate_sessions, synthetic_catalog
    from vodflow.analytics.spark_schema import JSON_OPTIONS, event_schema
    from vodflow.analytics.validate_spark import parse_and_check
    from vodflow.spark import JVM_OPTIONS, get_spark

    opts = VARIANTS[variant] or JVM_OPTIONS
    extra = {"spark.driver.extraJavaOptions": opts} if VARIANTS[variant] else None  # else: the builder's own
    spark = get_spark(f"bench-stream-parse-{variant}", extra_conf=extra)
    jvm = psutil.Process(spark.sparkContext._gateway.proc.pid)

    def cpu() -> float:
        t = jvm.cpu_times()
        return t.user + t.system

    sim = simulate_sessions(300, 120, synthetic_catalog(50), seed=1)
    texts = [json.dumps(e) for e in sim.events]
    values = (texts * (events // len(texts) + 1))[:events]
    now = datetime.now(timezone.utc)
    df = (spark.createDataFrame([(v,) for v in values], "value string")
          .withColumn("kafka_ts", F.lit(now).cast("timestamp")).repartition(2).cache())
    df.count()
    stages = {
        "from_json": lambda d: d.select(F.from_json("value", event_schema(), JSON_OPTIONS).alias("p")).select("p.*"),
        "json_object_keys": lambda d: d.select(F.json_object_keys("value").alias("k")),
        "parse_and_check": lambda d: parse_and_check(d).select("e.*", "reasons", "kind"),
    }
    out: dict = {name: [] for name in stages}
    for r in range(rounds):
        for name, build in stages.items():
            c0 = cpu()
            build(df).write.format("noop").mode("overwrite").save()
            out[name].append(round((cpu() - c0) / events * 1e5, 3))
        print(f"  {variant} round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in out.items()),
              file=sys.stderr, flush=True)
    spark.stop()
    steady = {k: statistics.median(v[len(v) // 2:]) for k, v in out.items()}
    return {"jvm_options": opts, "cpu_s_per_100k_by_round": out, "cpu_s_per_100k_steady": steady}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="events per pass (default 200000)")
    ap.add_argument("--rounds", type=int, default=6, help="passes per projection (default 6; half are warm-up)")
    ap.add_argument("--one", choices=sorted(VARIANTS), help=argparse.SUPPRESS)  # child process: one variant
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.events, a.rounds)))
        return
    res: dict = {"events": a.events, "rounds": a.rounds, "load_average_before": os.getloadavg(), "variants": {}}
    for v in VARIANTS:  # each in its own JVM, one after the other
        t0 = time.time()
        p = subprocess.run([sys.executable, __file__, "--one", v, "--events", str(a.events), "--rounds", str(a.rounds)],
                           stdout=subprocess.PIPE, text=True, check=True)
        res["variants"][v] = {**json.loads(p.stdout.strip().splitlines()[-1]), "wall_s": round(time.time() - t0, 1)}
    base, new = (res["variants"][v]["cpu_s_per_100k_steady"]["parse_and_check"] for v in VARIANTS)
    res.update(parse_and_check_cpu_ratio=round(new / base, 3), load_average_after=os.getloadavg(),
               command="bench/stream_parse.py " + " ".join(sys.argv[1:]),
               date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip())
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(f"parse_and_check CPU per 100k events: {base:.2f} s (HotSpot default) -> {new:.2f} s (vodflow) "
          f"= x{res['parse_and_check_cpu_ratio']}; written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
