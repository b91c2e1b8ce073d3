"""MovieLens benchmark of vodflow's recommenders, on the Microsoft Recommenders protocol.

    .venv/bin/python bench/recs_movielens.py --data ../shared/data/movielens/ml-latest-small
    .venv/bin/python bench/recs_movielens.py --data /path/to/ml-100k/u.data --tune

One split (75/25 stratified by item, seed 42), the same for every model:

* ``popularity``        most-rated training items
* ``spark-als-implicit`` vodflow's Spark implicit ALS (defaults, or ``--tune`` on a
  validation split carved from TRAIN)
* ``spark-als-explicit`` Spark explicit ALS with the MS Recommenders settings
  (rank 10, regParam 0.05, maxIter 15 as in their published table, and 20)
* ``implicit-als``       the `implicit` library's CPU ALS, same rank, iterations and
  confidences as the Spark implicit model (its own regularisation scale)

Training time is wall time of the fit with the factors materialised (Spark counts
both factor tables inside the timer); input preparation (building the cached
Spark frame / the CSR matrix) is outside it, for every model alike.  The JVM is
warmed up on a small synthetic fit first.  Recommend time is the seen-filtered
top-10 for all users (Spark: ``recommendForAllUsers`` + anti-join; numpy: factors).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vodflow.recs import als  # noqa: E402
from vodflow.recs.baselines import ImplicitLibParams, fit_implicit_als, popularity_model  # noqa: E402
from vodflow.recs.confidence import rating_value  # noqa: E402
from vodflow.recs.defaults import IMPLICIT_LIB_PARAMS, MOVIELENS_CONFIDENCE, SPARK_IMPLICIT_PARAMS  # noqa: E402
from vodflow.recs.evaluate import benchmark_split, evaluate_factor_model  # noqa: E402
from vodflow.recs.metrics import ranking_metrics  # noqa: E402
from vodflow.recs.movielens import LATEST_SMALL_DIR, dataset_name, load_movielens  # noqa: E402
from vodflow.recs.split import train_validation_split  # noqa: E402

K = 10
PUBLISHED_100K = [  # Microsoft Recommenders README, MovieLens 100k, 15 epochs
    ("ALS (explicit)", 0.004732, 0.044239, 0.048462, 0.017796),
    ("BiVAE", 0.146126, 0.475077, 0.411771, 0.219145),
    ("BPR", 0.132478, 0.441997, 0.388229, 0.212522),
    ("LightGCN", 0.088526, 0.419846, 0.379626, 0.144336),
    ("NCF", 0.107720, 0.396118, 0.347296, 0.180775),
    ("SAR", 0.110591, 0.382461, 0.330753, 0.176385),
]


def _warm_up(spark) -> float:
    """One small ALS fit so JIT/class loading is not billed to the first timed model."""
    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((200, 150)) < 0.1)
    pdf = pd.DataFrame({"userID": u, "itemID": i, "rating": 1.0})
    t0 = time.perf_counter()
    df = als.to_spark_ratings(spark, pdf)
    als.train_als(df, als.ALSParams(rank=16, max_iter=5))
    als.train_als(df, als.ALSParams(rank=10, max_iter=5, implicit_prefs=False))
    df.unpersist()
    return time.perf_counter() - t0


def _spark_run(name, spark, train, test, values, params):
    df = als.to_spark_ratings(spark, train, values)  # cached + counted: outside the timer
    t0 = time.perf_counter()
    model = als.train_als(df, params)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs = als.recommend_top_k(model, df, k=K).toPandas()
    rec_s = time.perf_counter() - t0
    df.unpersist()
    m = ranking_metrics(test, recs.rename(columns={"score": "prediction"}), k=K)
    return {"algo": name, "train_s": train_s, "recommend_s": rec_s, "params": params.as_dict(), **m}


def _numpy_run(name, fit_fn, test):
    t0 = time.perf_counter()
    fm = fit_fn()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = evaluate_factor_model(fm, test, k=K)
    rec_s = time.perf_counter() - t0
    return {"algo": name, "train_s": train_s, "recommend_s": rec_s, "params": fm.meta, **m}


def tune(spark, train, kind, base: als.ALSParams, lib_base: ImplicitLibParams):
    """Grid search on a validation split carved from TRAIN (the test split is not touched)."""
    fit, valid = train_validation_split(train)
    vf = lambda df: rating_value(df.rating.to_numpy(), kind)  # noqa: E731
    spark_res = als.tune_als(spark, fit, valid, als.default_grid(base), value_fn=vf, k=K)
    lib_res = []
    for reg in (0.1, 1.0, 10.0, 30.0):
        p = ImplicitLibParams(**{**lib_base.as_dict(), "regularization": reg,
                                 "factors": spark_res[0].params.rank, "alpha": spark_res[0].params.alpha})
        lib_res.append((p, evaluate_factor_model(fit_implicit_als(fit, vf(fit), p), valid, k=K)))
    lib_res.sort(key=lambda r: -r[1]["nDCG@k"])
    return spark_res, lib_res


def fmt_table(rows) -> str:
    head = "| Algo | Train (s) | Recommend (s) | MAP | nDCG@10 | Precision@10 | Recall@10 |"
    out = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['algo']} | {r['train_s']:.2f} | {r['recommend_s']:.2f} | {r['MAP']:.4f} | "
                   f"{r['nDCG@k']:.4f} | {r['Precision@k']:.4f} | {r['Recall@k']:.4f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(LATEST_SMALL_DIR),
                    help="ML-100K u.data (or its dir) or ml-latest ratings.csv (or its dir)")
    ap.add_argument("--tune", action="store_true", help="grid-search on a validation split from train first")
    ap.add_argument("--kind", default=MOVIELENS_CONFIDENCE, choices=["binary", "linear", "log"],
                    help="rating -> confidence value (see vodflow/recs/confidence.py)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "recs_movielens.json"))
    ap.add_argument("--md-out", default="", help="also write the results table (markdown) here")
    ap.add_argument("--skip", default="", help="comma list of algos to skip")
    a = ap.parse_args(argv)

    from vodflow.spark import get_spark

    ratings = load_movielens(a.data)
    name = dataset_name(a.data)
    split = benchmark_split(ratings)
    info = split.describe()
    print(f"{name}: {len(ratings)} ratings, {ratings.userID.nunique()} users, {ratings.itemID.nunique()} items")
    print("split (75/25 by item, seed 42):", json.dumps(info))

    spark = get_spark("bench-recs-movielens")
    als.ensure_checkpoint_dir(spark)
    print(f"spark {spark.version} master={spark.sparkContext.master}; warm-up {_warm_up(spark):.1f}s")

    sp_params, lib_params, tuning = SPARK_IMPLICIT_PARAMS, IMPLICIT_LIB_PARAMS, None
    if a.tune:
        t0 = time.perf_counter()
        sres, lres = tune(spark, split.train, a.kind, sp_params, lib_params)
        sp_params, lib_params = sres[0].params, lres[0][0]
        tuning = {"seconds": time.perf_counter() - t0,
                  "spark": [{**r.params.as_dict(), **r.metrics, "train_s": r.seconds} for r in sres],
                  "implicit": [{**p.as_dict(), **m} for p, m in lres]}
        print(f"tuned in {tuning['seconds']:.0f}s on validation:")
        for r in sres:
            print(f"  spark reg={r.params.reg_param} alpha={r.params.alpha}: nDCG@10={r.metrics['nDCG@k']:.4f}")
        for p, m in lres:
            print(f"  implicit reg={p.regularization}: nDCG@10={m['nDCG@k']:.4f}")
    lib_params = ImplicitLibParams(**{**lib_params.as_dict(), "factors": sp_params.rank,
                                      "iterations": sp_params.max_iter, "alpha": sp_params.alpha})

    values = rating_value(split.train.rating.to_numpy(), a.kind)
    skip = set(filter(None, a.skip.split(",")))
    rows = []
    jobs = [
        ("popularity", lambda: _numpy_run("popularity", lambda: popularity_model(split.train), split.test)),
        ("spark-als-implicit", lambda: _spark_run(
            "spark-als-implicit", spark, split.train, split.test, values, sp_params)),
        ("implicit-als", lambda: _numpy_run(
            "implicit-als", lambda: fit_implicit_als(split.train, values, lib_params, num_threads=2), split.test)),
        ("spark-als-explicit-ms15", lambda: _spark_run(
            "spark-als-explicit-ms15", spark, split.train, split.test, None, als.MS_RECOMMENDERS_EXPLICIT)),
        ("spark-als-explicit-ms20", lambda: _spark_run(
            "spark-als-explicit-ms20", spark, split.train, split.test, None,
            als.MS_RECOMMENDERS_EXPLICIT.with_(max_iter=20))),
    ]
    for algo, job in jobs:
        if algo in skip:
            continue
        r = job()
        rows.append(r)
        print(f"  {algo}: train {r['train_s']:.2f}s, nDCG@10 {r['nDCG@k']:.4f}", flush=True)

    table = fmt_table(rows)
    print(f"\n{name} (k={K}, {info['test_users']} test users)\n{table}\n")
    print("published MovieLens 100k (Microsoft Recommenders README), for reference:")
    for algo, *vals in PUBLISHED_100K:
        print(f"  {algo:15s} MAP {vals[0]:.4f}  nDCG@10 {vals[1]:.4f}  P@10 {vals[2]:.4f}  R@10 {vals[3]:.4f}")

    result = {"dataset": name, "data": str(a.data), "split": info, "k": K, "kind": a.kind,
              "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "spark": spark.version, "master": spark.sparkContext.master},
              "rows": rows, "tuning": tuning, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, default=str))
    if a.md_out:
        Path(a.md_out).write_text(table + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
