"""MovieLens benchmark of vodflow's recommenders: the time split the champion gate uses, and the
Microsoft Recommenders random split, side by side in one run.

    .venv/bin/python bench/recs_movielens.py --data ../shared/data/movielens/ml-latest-small
    .venv/bin/python bench/recs_movielens.py --data /path/to/ml-100k/u.data --tune

Two splits, each the same for every model:

* ``time_split``: each user's newest 20% of ratings by timestamp held out (the rule and
  fraction of the nightly DAG's champion gate, :func:`vodflow.recs.split.time_split` and
  ``TRAINING.holdout_fraction``), or with ``--cutoff YYYY-MM-DD`` every rating from that
  day on (users seen before it only);
* ``random_split``: 75/25 stratified by item, seed 42 (Microsoft Recommenders).

Models:

* ``popularity``        most-rated training items
* ``spark-als-implicit`` vodflow's Spark implicit ALS (defaults, or ``--tune`` on a
  validation split carved from TRAIN)
* ``spark-als-explicit`` Spark explicit ALS with the MS Recommenders settings
  (rank 10, regParam 0.05, maxIter 15 as in their published table, and 20)
* ``implicit-als``       the `implicit` library's CPU ALS, same rank, iterations and
  confidences as the Spark implicit model (its own regularisation scale)
* ``implicit-bpr``       the `implicit` library's CPU BPR on the binary pairs
* ``ease``               plain 0/1 EASE^R (:mod:`vodflow.recs.ease`, ``EASE_L2``)
* ``ease-recency``       vodflow's challenger: the same EASE^R ``B`` scoring each user's history weighted
  newest first (:mod:`vodflow.recs.recency`, ``EASE_RECENCY``)

**Time-split tuning** (on by default, ``--no-tune-time`` skips it): before the test cut is
scored, ``implicit-als``, ``implicit-bpr`` and ``ease-recency`` each get the same budget of 12
settings (:data:`TIME_GRIDS`), scored on a *validation* cut taken from the time split's TRAIN
by the same rule (each user's newest 20% of train held out); each model's best setting is
then refitted on all of train and scored on the test cut once.  Spark ALS keeps the DAG's
defaults (its own nightly grid is the DAG's business); plain ``ease`` keeps ``EASE_L2``.

Each row has MAP, nDCG@10, Precision@10, Recall@10, catalog coverage (share of the
training titles in some top-10) and novelty (mean self-information of the recommended
titles, bits).  The champion is chosen like the DAG's gate on the time split: Spark ALS
unless the challenger (``ease-recency``) is strictly better.  Results: ``bench/results/recs.json`` (keys
``time_split`` / ``random_split`` per model, ``champion``, ``date``, ``commit``).

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

from benchkit import commit, merge_results  # noqa: E402

from vodflow.recs import als  # noqa: E402
from vodflow.recs.baselines import (ImplicitLibParams, fit_implicit_als, fit_implicit_bpr,  # noqa: E402
                                    popularity_model)
from vodflow.recs.confidence import rating_value  # noqa: E402
from vodflow.recs.defaults import (EASE_L2, EASE_RECENCY, IMPLICIT_BPR_PARAMS, IMPLICIT_LIB_PARAMS,  # noqa: E402
                                   MOVIELENS_CONFIDENCE, SPARK_IMPLICIT_PARAMS, TRAINING)
from vodflow.recs.ease import fit_ease, with_recency  # noqa: E402
from vodflow.recs.movielens import COL_TIMESTAMP  # noqa: E402
from vodflow.recs.params import ImplicitBPRParams, RecencyWeights  # noqa: E402
from vodflow.recs.evaluate import Split, benchmark_split, evaluate_factor_model, topk_for_factor_model  # noqa: E402
from vodflow.recs.metrics import catalog_coverage, novelty, ranking_metrics, topk_frame  # noqa: E402
from vodflow.recs.movielens import COL_ITEM, COL_USER, LATEST_SMALL_DIR, dataset_name, load_movielens  # noqa: E402
from vodflow.recs.split import time_split, train_validation_split  # noqa: E402

K = 10
PUBLISHED_100K = [  # Microsoft Recommenders README, MovieLens 100k, 15 epochs
    ("ALS (explicit)", 0.004732, 0.044239, 0.048462, 0.017796),
    ("BiVAE", 0.146126, 0.475077, 0.411771, 0.219145),
    ("BPR", 0.132478, 0.441997, 0.388229, 0.212522),
    ("LightGCN", 0.088526, 0.419846, 0.379626, 0.144336),
    ("NCF", 0.107720, 0.396118, 0.347296, 0.180775),
    ("SAR", 0.110591, 0.382461, 0.330753, 0.176385),
]


#: the time-split tuning grids: the same budget (12 settings) for each tuned model
TIME_GRIDS = {
    "implicit-als": [{"factors": f, "regularization": r} for f in (32, 64, 128) for r in (1.0, 10.0, 30.0, 100.0)],
    "implicit-bpr": [{"factors": f, "learning_rate": lr, "regularization": r}
                     for f in (32, 64, 128) for lr in (0.01, 0.05) for r in (0.01, 0.001)],
    "ease-recency": [{"half_life": h, "floor": fl} for h in (2.0, 4.0, 8.0, 16.0) for fl in (0.05, 0.1, 0.2)],
}


def _warm_up(spark) -> float:
    """One small ALS fit so JIT/class loading is not billed to the first timed model."""
    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((200, 150)) < 0.1)
    pdf = pd.DataFrame({"userID": u, "itemID": i, "rating": 1.0})
    t0 = time.perf_counter()
    df = als.to_spark_ratings(spark, pdf)
    als.train_als(df, als.ALSParams(rank=16, max_iter=5))
    als.train_als(df, als.ALSParams(rank=10, max_iter=5, implicit_prefs=False))
    als.release(df)
    return time.perf_counter() - t0


def _score(test, train, recs) -> dict:
    """Accuracy (benchmark definitions) + catalog coverage over the training titles + novelty."""
    m = ranking_metrics(test, recs, k=K)
    m["coverage"] = catalog_coverage(recs, train[COL_ITEM].nunique(), k=K) if len(recs) else 0.0
    m["novelty"] = novelty(train, recs, k=K) if len(recs) else 0.0
    return m


def _spark_run(name, spark, split, values, params):
    df = als.to_spark_ratings(spark, split.train, values)  # materialised (localCheckpoint): outside the timer
    t0 = time.perf_counter()
    model = als.train_als(df, params)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs = als.recommend_top_k(model, df, k=K).toPandas()
    rec_s = time.perf_counter() - t0
    als.release(df)
    m = _score(split.test, split.train, recs.rename(columns={"score": "prediction"}))
    return {"algo": name, "train_s": train_s, "recommend_s": rec_s, "params": params.as_dict(), **m}


def _numpy_run(name, fit_fn, split):
    t0 = time.perf_counter()
    fm = fit_fn()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    users = np.array([u for u in split.test[COL_USER].unique().tolist() if fm.has_user(u)])
    recs = topk_frame(users, topk_for_factor_model(fm, users, K))
    rec_s = time.perf_counter() - t0
    return {"algo": name, "train_s": train_s, "recommend_s": rec_s, "params": fm.meta,
            **_score(split.test, split.train, recs)}


def time_benchmark_split(ratings: pd.DataFrame, fraction: float, cutoff: str | None) -> Split:
    """The gate's time split of MovieLens (``cutoff`` = a UTC date; timestamps are epoch seconds)."""
    cut = None if not cutoff else int(pd.Timestamp(cutoff, tz="UTC").timestamp())
    train, test = time_split(ratings, fraction, cutoff=cut)
    return Split(train, test)


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


def tune_time(train: pd.DataFrame, fraction: float, kind: str, lib_base: ImplicitLibParams,
              bpr_base: ImplicitBPRParams, ease_l2: float) -> dict:
    """Each tuned model's best of :data:`TIME_GRIDS` on a validation cut from the time split's TRAIN
    (each user's newest ``fraction`` of train); the test cut is not touched."""
    from tqdm import tqdm

    fit, valid = time_split(train, fraction)
    vf = rating_value(fit.rating.to_numpy(), kind)
    t0 = time.perf_counter()
    base = fit_ease(fit, ease_l2, user=COL_USER, item=COL_ITEM)  # one inverse; the recency grid only rescores
    makers = {
        "implicit-als": lambda g: (ImplicitLibParams(**{**lib_base.as_dict(), **g}),
                                   lambda p: fit_implicit_als(fit, vf, p, num_threads=2)),
        "implicit-bpr": lambda g: (ImplicitBPRParams(**{**bpr_base.as_dict(), **g}),
                                   lambda p: fit_implicit_bpr(fit, p, num_threads=2)),
        "ease-recency": lambda g: (RecencyWeights(**g), lambda p: with_recency(base, fit, p, COL_USER, COL_ITEM,
                                                                                COL_TIMESTAMP)),
    }
    out = {"validation": {"fraction": fraction, "fit_rows": len(fit), "valid_rows": len(valid)},
           "ease_inverse_s": time.perf_counter() - t0}
    for algo, grid in TIME_GRIDS.items():
        tried = []
        for g in tqdm(grid, desc=f"tune {algo} (validation cut)", leave=False):
            params, fit_fn = makers[algo](g)
            tried.append({**g, "ndcg10": evaluate_factor_model(fit_fn(params), valid, k=K)["nDCG@k"]})
        best = max(range(len(tried)), key=lambda i: (tried[i]["ndcg10"], -i))  # ties: the earlier setting
        out[algo] = {"best": grid[best], "grid": tried}
        print(f"  tuned {algo}: {grid[best]} validation nDCG@10 {tried[best]['ndcg10']:.4f} "
              f"(grid {min(t['ndcg10'] for t in tried):.4f}-{tried[best]['ndcg10']:.4f})", flush=True)
    out["seconds"] = time.perf_counter() - t0
    return out


def fmt_table(rows) -> str:
    head = "| Algo | Train (s) | Recommend (s) | MAP | nDCG@10 | Precision@10 | Recall@10 | Coverage | Novelty |"
    out = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['algo']} | {r['train_s']:.2f} | {r['recommend_s']:.2f} | {r['MAP']:.4f} | "
                   f"{r['nDCG@k']:.4f} | {r['Precision@k']:.4f} | {r['Recall@k']:.4f} | "
                   f"{r['coverage']:.4f} | {r['novelty']:.2f} |")
    return "\n".join(out)


def summary(rows) -> dict:
    """Per model: the results-file keys (ndcg10, map, recall10, coverage, novelty, train_s)."""
    return {r["algo"]: {"ndcg10": r["nDCG@k"], "map": r["MAP"], "recall10": r["Recall@k"],
                        "precision10": r["Precision@k"], "coverage": r["coverage"], "novelty": r["novelty"],
                        "train_s": r["train_s"]} for r in rows}


def champion(time_rows: dict, min_improvement: float = TRAINING.min_improvement,
             challenger: str = "ease-recency") -> dict:
    """The DAG gate on the time split: Spark ALS unless the challenger beats it by more than ``min_improvement``."""
    als_s, ease_s = time_rows.get("spark-als-implicit"), time_rows.get(challenger)
    if als_s is None and ease_s is None:
        return {"model": None, "reason": f"neither spark-als-implicit nor {challenger} ran"}
    if ease_s is not None and (als_s is None or ease_s["ndcg10"] > als_s["ndcg10"] + min_improvement):
        name = challenger
    else:
        name = "spark-als-implicit"
    best_lib = max((time_rows[m]["ndcg10"] for m in ("implicit-als", "implicit-bpr") if m in time_rows),
                   default=None)
    out = {"model": name, "split": "time_split", "ndcg10": time_rows[name]["ndcg10"],
           "rule": f"spark-als-implicit unless {challenger} has a higher time-split nDCG@10 (the DAG gate)"}
    if best_lib is not None:
        out["best_implicit_ndcg10"] = best_lib
        out["target_met"] = bool(time_rows[name]["ndcg10"] >= best_lib + 0.02)  # issue 16 target 1
    return out


def _jobs(spark, split, kind, sp_params, lib_params, bpr_params, ease_l2, recency, with_explicit):
    values = rating_value(split.train.rating.to_numpy(), kind)
    ease_fit: dict = {}

    def ease():  # the plain fit; ease-recency rescores the same B (one inverse for both rows)
        t0 = time.perf_counter()
        ease_fit["fm"] = fit_ease(split.train, ease_l2, user=COL_USER, item=COL_ITEM)
        ease_fit["s"] = time.perf_counter() - t0
        return ease_fit["fm"]

    def ease_recency():  # its train_s: the shared B's fit + the reweighting
        if "fm" not in ease_fit:
            ease()
        r = _numpy_run("ease-recency", lambda: with_recency(ease_fit["fm"], split.train, recency, COL_USER,
                                                            COL_ITEM, COL_TIMESTAMP), split)
        return {**r, "train_s": r["train_s"] + ease_fit["s"], "params": {**r["params"], **recency.as_dict()}}

    jobs = [
        ("popularity", lambda: _numpy_run("popularity", lambda: popularity_model(split.train), split)),
        ("spark-als-implicit", lambda: _spark_run("spark-als-implicit", spark, split, values, sp_params)),
        ("implicit-als", lambda: _numpy_run(
            "implicit-als", lambda: fit_implicit_als(split.train, values, lib_params, num_threads=2), split)),
        ("implicit-bpr", lambda: _numpy_run(
            "implicit-bpr", lambda: fit_implicit_bpr(split.train, bpr_params, num_threads=2), split)),
        ("ease", lambda: _numpy_run("ease", ease, split)),
        ("ease-recency", ease_recency),
    ]
    if with_explicit:
        jobs += [
            ("spark-als-explicit-ms15", lambda: _spark_run(
                "spark-als-explicit-ms15", spark, split, None, als.MS_RECOMMENDERS_EXPLICIT)),
            ("spark-als-explicit-ms20", lambda: _spark_run(
                "spark-als-explicit-ms20", spark, split, None, als.MS_RECOMMENDERS_EXPLICIT.with_(max_iter=20))),
        ]
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(LATEST_SMALL_DIR),
                    help="ML-100K u.data (or its dir) or ml-latest ratings.csv (or its dir)")
    ap.add_argument("--tune", action="store_true", help="grid-search on a validation split from train first")
    ap.add_argument("--kind", default=MOVIELENS_CONFIDENCE, choices=["binary", "linear", "log"],
                    help="rating -> confidence value (see vodflow/recs/confidence.py)")
    ap.add_argument("--time-fraction", type=float, default=TRAINING.holdout_fraction,
                    help="newest share of each user's ratings held out in the time split "
                         f"(default {TRAINING.holdout_fraction}, the DAG gate's)")
    ap.add_argument("--cutoff", default="", help="time split by a global cut-off date (YYYY-MM-DD, UTC) instead")
    ap.add_argument("--ease-l2", type=float, default=EASE_L2, help=f"EASE^R lambda (default {EASE_L2:g})")
    ap.add_argument("--no-tune-time", action="store_true",
                    help="skip the time-split tuning (TIME_GRIDS on a validation cut from the time split's train)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "recs_movielens.json"),
                    help="full rows (params, timings) as JSON")
    ap.add_argument("--results", default=str(REPO / "bench" / "results" / "recs.json"),
                    help="the committed results file (time_split / random_split per model, champion)")
    ap.add_argument("--md-out", default="", help="also write the results tables (markdown) here")
    ap.add_argument("--skip", default="", help="comma list of algos to skip")
    ap.add_argument("--explicit", action="store_true", help="also the explicit Spark ALS rows (random split)")
    a = ap.parse_args(argv)

    if not Path(a.data).exists():
        print(f"MovieLens not found at {a.data}: pass --data <ml-latest-small dir or ratings.csv> "
              "(the data stays outside the repo, in ../shared/data/movielens); skipping", file=sys.stderr)
        return 2

    from vodflow.spark import get_spark

    ratings = load_movielens(a.data)
    name = dataset_name(a.data)
    splits = {"time_split": time_benchmark_split(ratings, a.time_fraction, a.cutoff or None),
              "random_split": benchmark_split(ratings)}
    info = {k: v.describe() for k, v in splits.items()}
    print(f"{name}: {len(ratings)} ratings, {ratings.userID.nunique()} users, {ratings.itemID.nunique()} items")
    for k, v in info.items():
        print(f"{k}:", json.dumps(v))

    spark = get_spark("bench-recs-movielens")
    als.ensure_checkpoint_dir(spark)
    print(f"spark {spark.version} master={spark.sparkContext.master}; warm-up {_warm_up(spark):.1f}s")

    sp_params, lib_params, tuning = SPARK_IMPLICIT_PARAMS, IMPLICIT_LIB_PARAMS, None
    if a.tune:
        t0 = time.perf_counter()
        sres, lres = tune(spark, splits["random_split"].train, a.kind, sp_params, lib_params)
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

    load_before = list(os.getloadavg())
    per_split_params = {name: (lib_params, IMPLICIT_BPR_PARAMS, EASE_RECENCY) for name in splits}
    time_tuning = None
    if not a.no_tune_time:
        print("time-split tuning on a validation cut of the time split's train:", flush=True)
        time_tuning = tune_time(splits["time_split"].train, a.time_fraction, a.kind, lib_params,
                                IMPLICIT_BPR_PARAMS, a.ease_l2)
        per_split_params["time_split"] = (
            ImplicitLibParams(**{**lib_params.as_dict(), **time_tuning["implicit-als"]["best"]}),
            ImplicitBPRParams(**{**IMPLICIT_BPR_PARAMS.as_dict(), **time_tuning["implicit-bpr"]["best"]}),
            RecencyWeights(**time_tuning["ease-recency"]["best"]))

    skip = set(filter(None, a.skip.split(",")))
    rows: dict[str, list] = {}
    tables = []
    for split_name, split in splits.items():
        rows[split_name] = []
        print(f"{split_name}:", flush=True)
        lp, bp, rw = per_split_params[split_name]
        for algo, job in _jobs(spark, split, a.kind, sp_params, lp, bp, a.ease_l2, rw,
                               a.explicit and split_name == "random_split"):
            if algo in skip:
                continue
            r = job()
            rows[split_name].append(r)
            print(f"  {algo}: train {r['train_s']:.2f}s, nDCG@10 {r['nDCG@k']:.4f}, coverage {r['coverage']:.3f}",
                  flush=True)
        tables.append(f"### {split_name} ({info[split_name]['test_users']} test users)\n\n"
                      f"{fmt_table(rows[split_name])}\n")
    print(f"\n{name} (k={K})\n" + "\n".join(tables))
    print("published MovieLens 100k (Microsoft Recommenders README, random split), for reference:")
    for algo, *vals in PUBLISHED_100K:
        print(f"  {algo:15s} MAP {vals[0]:.4f}  nDCG@10 {vals[1]:.4f}  P@10 {vals[2]:.4f}  R@10 {vals[3]:.4f}")

    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv)
    per_split = {k: summary(v) for k, v in rows.items()}
    results = {"dataset": name, **per_split, "champion": champion(per_split["time_split"]),
               "splits": {"time_split": {"fraction": a.time_fraction, "cutoff": a.cutoff or None,
                                         **info["time_split"]},
                          "random_split": {"ratio": 0.75, "stratify": "item", "seed": 42, **info["random_split"]}},
               "ease_l2": a.ease_l2, "k": K, "command": f"bench/{command}",
               "params": {name: {"implicit-als": lp.as_dict(), "implicit-bpr": bp.as_dict(),
                                 "ease-recency": rw.as_dict()} for name, (lp, bp, rw) in per_split_params.items()},
               "time_tuning": time_tuning, "load_average": {"before": load_before, "after": list(os.getloadavg())},
               "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit()}
    print("champion:", json.dumps(results["champion"]))
    machine = {"cores": os.cpu_count(), "python": platform.python_version(), "spark": spark.version,
               "master": spark.sparkContext.master}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({**results, "machine": machine, "rows": rows, "tuning": tuning}, indent=2,
                                      default=str))
    # merged: bench/recs_scale.py and bench/recs_serve.py keep their keys in the same file
    merge_results(a.results, results)
    if a.md_out:
        Path(a.md_out).write_text("\n".join(tables))
    print(f"wrote {a.out} and {a.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
