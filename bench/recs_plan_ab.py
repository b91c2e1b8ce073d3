"""A/B of the ALS input frame: a cached ``LocalRelation`` (before) vs a local checkpoint (:func:`als.to_spark_ratings`).

Session 13's profile of a 1-sweep Spark ALS fit at 1M found ~29% of the JVM samples in Catalyst planning:
``createDataFrame(pandas)`` makes a ``LocalRelation`` that holds every row in the plan, and under ``cache()``
each query over the frame -- ``ALS.fit`` runs several -- re-analysed and canonicalised those rows to find the
cached data.  ``to_spark_ratings`` now returns a ``localCheckpoint`` (the plan is a scan of stored blocks).

In ONE Spark session (warm-up fit first), for each data set (ml-latest-small's time-split train, the
synthetic interactions of bench/recs_scale.py at ``--sizes``), both frames are built from the same pandas
data, then, interleaved (old, new, old, new, ...):

* planning one query like ALS's (``select(user, item, value)`` -> executed plan), ``--plans`` times each;
* ALS fits (the curve's settings, :data:`SPARK_IMPLICIT_PARAMS`) at each of ``--sweeps``, ``--repeat`` times:
  wall and JVM CPU-seconds; per variant a line ``fixed + sweeps x per_sweep`` (what the fix should move is
  the fixed part).

Results merge into ``bench/results/recs.json`` under ``input_plan_ab``; prose in docs/benchmarks-recs.md.

    /work/notes/heavy .venv/bin/python bench/recs_plan_ab.py --sizes ml-latest-small,1M
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import commit, merge_results  # noqa: E402
from recs_scale import SMALL, cost_model, cpu_seconds, jvm_pids, label, parse_size, uptime  # noqa: E402

from vodflow.recs import als  # noqa: E402
from vodflow.recs.defaults import SPARK_IMPLICIT_PARAMS, TRAINING  # noqa: E402
from vodflow.recs.synthetic import COL_VALUE, synthetic_interactions  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recs.json"


def cached_local_relation(spark, pdf, values):
    """The frame as ``to_spark_ratings`` built it before session 14: createDataFrame + repartition + cache."""
    import pandas as pd
    from pyspark.sql import types as T

    data = pd.DataFrame({"userID": pdf["userID"].to_numpy(dtype=np.int32),
                         "itemID": pdf["itemID"].to_numpy(dtype=np.int32), "value": np.asarray(values, float)})
    schema = T.StructType([T.StructField("userID", T.IntegerType(), False),
                           T.StructField("itemID", T.IntegerType(), False),
                           T.StructField("value", T.DoubleType(), False)])
    df = spark.createDataFrame(data, schema=schema).repartition(spark.sparkContext.defaultParallelism).cache()
    df.count()
    return df


def data_for(key: str, movielens: str, seed: int):
    if key == SMALL:
        from vodflow.recs.confidence import rating_value
        from vodflow.recs.defaults import MOVIELENS_CONFIDENCE
        from vodflow.recs.movielens import load_movielens
        from vodflow.recs.split import time_split

        train, _ = time_split(load_movielens(Path(movielens)), TRAINING.holdout_fraction)
        return train, rating_value(train["rating"].to_numpy(), MOVIELENS_CONFIDENCE)
    df = synthetic_interactions(parse_size(key), seed)
    return df, df[COL_VALUE].to_numpy()


def plan_seconds(df, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        df.select("userID", "itemID", "value")._jdf.queryExecution().executedPlan()
        out.append(round(time.perf_counter() - t0, 4))
    return out


def run_one(spark, key: str, a) -> dict:
    pdf, values = data_for(key, a.movielens, a.seed)
    t0 = time.perf_counter()
    old = cached_local_relation(spark, pdf, values)
    build_old = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = als.to_spark_ratings(spark, pdf, values)
    build_new = time.perf_counter() - t0
    row: dict = {"interactions": len(pdf), "build_s": {"cached_local_relation": round(build_old, 2),
                                                        "local_checkpoint": round(build_new, 2)}}
    variants = {"cached_local_relation": old, "local_checkpoint": new}
    row["plan_s"] = {name: [] for name in variants}
    for _ in range(a.plans):
        for name, df in variants.items():
            row["plan_s"][name] += plan_seconds(df, 1)
    fits: dict = {name: [] for name in variants}
    sweeps = [int(s) for s in a.sweeps.split(",")]
    for _ in range(a.repeat):
        for s in sweeps:
            for name, df in variants.items():
                jvm = jvm_pids()
                t0, c0 = time.perf_counter(), cpu_seconds(jvm)
                m = als.train_als(df, SPARK_IMPLICIT_PARAMS.with_(max_iter=s))
                f = {"sweeps": s, "wall_s": round(time.perf_counter() - t0, 3), "cpu_s": round(cpu_seconds(jvm) - c0, 3),
                     "load_1m": round(os.getloadavg()[0], 2)}
                m.userFactors.unpersist()
                m.itemFactors.unpersist()
                fits[name].append(f)
                print(f"[{key}] {name:22s} {f}", flush=True)
    row["fits"] = fits
    row["cost_model"] = {name: cost_model(f) for name, f in fits.items()}
    row["plan_median_s"] = {name: float(np.median(v)) for name, v in row["plan_s"].items()}
    for name in variants:
        print(f"[{key}] {name}: plan median {row['plan_median_s'][name]:.4f} s; {row['cost_model'][name]}", flush=True)
    als.release(old)
    als.release(new)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=f"{SMALL},1M")
    ap.add_argument("--sweeps", default="1,5")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--plans", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--movielens", default=str(REPO.parent / "shared" / "data" / "movielens" / "ml-latest-small"))
    ap.add_argument("--results", default=str(RESULTS))
    a = ap.parse_args(argv)
    from vodflow.spark import get_spark

    info = {"uptime_before": uptime(), "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    print(info["uptime_before"], flush=True)
    spark = get_spark("bench-recs-plan-ab")
    warm = synthetic_interactions(20_000, a.seed + 1)
    wdf = als.to_spark_ratings(spark, warm, warm[COL_VALUE].to_numpy())
    als.train_als(wdf, SPARK_IMPLICIT_PARAMS.with_(max_iter=3))
    als.release(wdf)
    rows = {}
    for key in a.sizes.split(","):
        key = key.strip()
        rows[key if key == SMALL else label(parse_size(key))] = run_one(spark, key, a)
    info.update(uptime_after=uptime(), finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                commit=commit(), command="bench/recs_plan_ab.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(info["uptime_after"], flush=True)
    merge_results(Path(a.results), {"input_plan_ab": {**info, "sweeps": a.sweeps, "repeat": a.repeat, "rows": rows}})
    print(f"wrote input_plan_ab to {a.results}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
