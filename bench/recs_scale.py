"""Scaling curve: Spark ALS vs the `implicit` library on synthetic interactions (1M, 5M, 20M).

For each size, in ONE process and one run (so machine load hits both sides alike):

1. :func:`vodflow.recs.synthetic.synthetic_interactions` (power-law users and titles, sessions);
2. ``implicit`` ALS fit (2 threads, same rank / iterations / confidences as Spark: the MovieLens
   benchmark's settings, :data:`vodflow.recs.defaults.IMPLICIT_LIB_PARAMS`);
3. Spark ALS fit (:data:`vodflow.recs.defaults.SPARK_IMPLICIT_PARAMS`, ``local[2]``), the input frame
   cached and counted outside the timer, as in bench/recs_movielens.py;
4. factor export to numpy and all-user top-N (N = the DAG's ``TRAINING.top_n``) with the seen titles
   masked, blocked matrix products (:meth:`FactorModel.top_n_all`, what the DAG publishes); up to
   ``--compare-max`` interactions also Spark's ``recommendForAllUsers`` path
   (:func:`vodflow.recs.als.recommend_top_k`, seen-filtered) on the same model, with the share of
   users whose lists agree.

Peak memory: resident set size sampled every 50 ms during each fit, of this Python process
(``implicit``) and of the Spark JVM (its child process).  The JVM's figure is its whole footprint at
the time (heap it grew for earlier sizes included): the JVM rarely gives heap back.

``--profile SIZE`` first fits SIZE interactions with a few ALS job settings (blocks, checkpoint interval,
intermediate storage level) and reports each fit time.

Results merge into ``bench/results/recs.json`` (``fit_seconds`` per model and size, ``fit_ratio_small``
(the smallest size), ``fit_ratio_20m``, ``all_users_topn_20m_s``, ``native_blas``, ``scale``, ``date``,
``commit``); the other keys of the file are kept.  The plot: ``docs/img/recs_scale.png``.  Command and prose: docs/benchmarks-recs.md.

    VODFLOW_SPARK_DRIVER_MEMORY=8g .venv/bin/python bench/recs_scale.py --sizes 1M,5M,20M

``--stage generate|implicit|spark|topn`` runs ONE stage of ONE size per call (on a shared machine, each
call is a separate, shorter slot of CPU): ``generate`` writes the interactions to a Parquet file in
``--data-dir`` (made once, kept on disk), ``implicit`` fits ``implicit`` on it (and its all-user top-N),
``spark`` reads the same file with Spark, fits and saves Spark's factors next to it, ``topn`` scores every
user from those factors.  Each stage merges its keys into the size's row of ``scale.rows`` (the other
rows and stages are kept) with its own wall, CPU-seconds, peak RSS, ``uptime`` / load before and after,
date and commit under ``stages``; the ratio is recomputed when both fits are in.

    B=".venv/bin/python bench/recs_scale.py --sizes 20M --data-dir /work/tmp/recs-scale"
    /work/notes/heavy $B --stage generate; /work/notes/heavy $B --stage implicit
    VODFLOW_SPARK_DRIVER_MEMORY=8g /work/notes/heavy $B --stage spark; /work/notes/heavy $B --stage topn

``--stage curve`` (target 2's curve) fits ``--models`` (``implicit``, ``implicit-cholesky``: the library's
exact solve, Spark's algorithm; ``spark``) on one data set (a synthetic size, or ``ml-latest-small``'s
time-split train) at each of ``--sweeps``, interleaved in one process, and splits each model's fit time
into a fixed per-fit cost and a per-sweep cost (wall and CPU-seconds, least squares over the sweep
counts); across sizes ``scale.fit_model`` fits those costs against interactions and says where the
15-sweep ratio would cross 3x.  Rows: ``scale.curve_rows``; plot: ``docs/img/recs_curve.png``.

    /work/notes/heavy $B --stage curve --sweeps 1,3 --models implicit,spark
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import Poller, commit, merge_results  # noqa: E402

from vodflow.recs import als  # noqa: E402
from vodflow.recs.baselines import fit_implicit_als  # noqa: E402
from vodflow.recs.defaults import IMPLICIT_LIB_PARAMS, SPARK_IMPLICIT_PARAMS, TRAINING  # noqa: E402
from vodflow.recs.factors import FactorModel  # noqa: E402
from vodflow.recs.synthetic import COL_VALUE, default_shape, synthetic_interactions  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recs.json"
PLOT = REPO / "docs" / "img" / "recs_scale.png"
CURVE_PLOT = REPO / "docs" / "img" / "recs_curve.png"


def parse_size(text: str) -> int:
    t = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: write e.g. 1M, 500K or 2000000") from None


def label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


class PeakRSS(Poller):
    """Peak resident memory (MB) of a set of processes, sampled in a thread while the block runs."""

    def __init__(self, pids_fn, every: float = 0.05):
        super().__init__(every)
        self.pids_fn, self.peak = pids_fn, 0.0

    def _rss(self) -> float:
        import psutil

        total = 0
        for pid in self.pids_fn():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def poll(self) -> None:
        self.peak = max(self.peak, self._rss())


def jvm_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process().children(recursive=True) if "java" in (p.name() or "")]


def same_lists(fm: FactorModel, spark_recs, k: int) -> float:
    """Share of users whose Spark top-k equals numpy's top-k (item ids in rank order)."""
    items, _ = fm.top_n_all(k, exclude_seen=True)
    want = {int(u): [int(fm.item_ids[i]) for i in row if i >= 0] for u, row in zip(fm.user_ids.tolist(), items)}
    got = spark_recs.sort_values(["userID", "rank"]).groupby("userID")["itemID"].apply(list).to_dict()
    same = sum(1 for u, lst in want.items() if got.get(u) == lst)
    return same / max(1, len(want))


def profile(spark, df_spark, base) -> list[dict]:
    """Fit times of a few ALS job settings on one cached frame (best first)."""
    variants = [("default (blocks=cores, checkpoint 10, MEMORY_AND_DISK)", base, None),
                ("blocks=4", base.with_(num_blocks=4), None),
                ("blocks=1", base.with_(num_blocks=1), None),
                ("checkpoint 5", base.with_(checkpoint_interval=5), None),
                ("intermediate MEMORY_ONLY", base, "MEMORY_ONLY")]
    out = []
    for name, p, storage in variants:
        est = als.make_als(p, spark)
        if storage:
            est = est.setIntermediateStorageLevel(storage)
        als.ensure_checkpoint_dir(spark)
        t0 = time.perf_counter()
        est.fit(df_spark)
        secs = time.perf_counter() - t0
        print(f"  profile {name}: {secs:.1f} s", flush=True)
        out.append({"setting": name, "fit_s": round(secs, 2)})
    return sorted(out, key=lambda r: r["fit_s"])


STAGES = ("generate", "implicit", "spark", "topn", "curve")
#: the curve's small point: ml-latest-small's time-split train (``--sizes ml-latest-small``, ``--stage curve``)
SMALL = "ml-latest-small"


def data_file(data_dir: Path, n: int, seed: int) -> Path:
    return Path(data_dir) / f"interactions-{label(n)}-seed{seed}.parquet"


def factors_file(data_dir: Path, n: int, seed: int) -> Path:
    return Path(data_dir) / f"spark-factors-{label(n)}-seed{seed}.npz"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def uptime() -> str:
    import subprocess

    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def read_data(path: Path):
    import pandas as pd

    if not path.exists():
        raise SystemExit(f"no interactions file {path}: run this size's --stage generate first (same --data-dir, "
                         "--seed)")
    return pd.read_parquet(path)


def stage_generate(n: int, seed: int, data_dir: Path) -> dict:
    out = data_file(data_dir, n, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with PeakRSS(lambda: [os.getpid()]) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        df = synthetic_interactions(n, seed)
        gen_s, gen_cpu = time.perf_counter() - t0, time.process_time() - c0
        df.attrs = {}  # item_genre (an array) is not needed by the fits and Parquet cannot store it
        df.to_parquet(out, index=False)
    users, items = df["userID"].nunique(), df["itemID"].nunique()
    print(f"[{label(n)}] {len(df):,} interactions, {users:,} users, {items:,} titles: generated in {gen_s:.1f} s "
          f"({gen_cpu:.1f} CPU-s), peak RSS {mem.peak:.0f} MB -> {out} ({out.stat().st_size / 2**20:.0f} MiB)",
          flush=True)
    return {"interactions": len(df), "users": int(users), "titles": int(items), "generate_s": gen_s,
            "generate_cpu_s": gen_cpu, "generate_peak_rss_mb": round(mem.peak)}


def topn_on_implicit_factors(fm: FactorModel) -> dict:
    """All-user top-N on `implicit`'s factors (same users, titles, rank and seen sets as Spark's)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fm.top_n_all(TRAINING.top_n, exclude_seen=True)
    out = {"topn_numpy_implicit_factors_s": time.perf_counter() - t0,
           "topn_numpy_implicit_factors_cpu_s": time.process_time() - c0}
    print(f"  all-user top-{TRAINING.top_n} on implicit's factors {out['topn_numpy_implicit_factors_s']:.1f} s "
          f"({out['topn_numpy_implicit_factors_cpu_s']:.1f} CPU-s)", flush=True)
    return out


def stage_implicit(n: int, seed: int, data_dir: Path) -> dict:
    df = read_data(data_file(data_dir, n, seed))
    values = df[COL_VALUE].to_numpy()
    row: dict = {}
    gc.collect()
    with PeakRSS(lambda: [os.getpid()]) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        fm = fit_implicit_als(df, values, IMPLICIT_LIB_PARAMS, num_threads=2)
        row["implicit_fit_s"], row["implicit_fit_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    row["implicit_peak_rss_mb"] = round(mem.peak)
    print(f"[{label(n)}] implicit ALS fit {row['implicit_fit_s']:.1f} s ({row['implicit_fit_cpu_s']:.1f} CPU-s), "
          f"python peak RSS {mem.peak:.0f} MB", flush=True)
    row.update(topn_on_implicit_factors(fm))
    return row


def stage_spark(spark, n: int, seed: int, data_dir: Path, max_iter: int | None = None) -> dict:
    """Spark reads the Parquet file itself (no pandas -> JVM copy of 20M rows through Python).

    ``max_iter`` (``--max-iter``) fits fewer sweeps than the 15 of the curve, when a whole fit does not
    fit the machine's slot: the row then says so (``spark_max_iter``) and the ratio is taken per sweep."""
    from pyspark.sql import functions as F

    path = data_file(data_dir, n, seed)
    if not path.exists():
        read_data(path)  # the error naming the fix
    par = spark.sparkContext.defaultParallelism
    sdf = (spark.read.parquet(str(path))
           .select(F.col("userID").cast("int"), F.col("itemID").cast("int"), F.col(COL_VALUE).cast("double"))
           .repartition(par).cache())
    t0 = time.perf_counter()
    sdf.count()  # cached and counted outside the timer, as in run_size
    row: dict = {"spark_load_s": time.perf_counter() - t0, "spark_partitions": sdf.rdd.getNumPartitions(),
                 "spark_num_blocks": als.default_num_blocks(spark)}
    params = SPARK_IMPLICIT_PARAMS.with_(max_iter=max_iter) if max_iter else SPARK_IMPLICIT_PARAMS
    row["spark_max_iter"] = params.max_iter
    jvm = jvm_pids()
    with PeakRSS(jvm_pids) as mem:
        t0, c0 = time.perf_counter(), cpu_seconds(jvm)
        model = als.train_als(sdf, params)
        row["spark_fit_s"], row["spark_fit_cpu_s"] = time.perf_counter() - t0, cpu_seconds(jvm) - c0
    row["spark_jvm_peak_rss_mb"] = round(mem.peak)
    print(f"[{label(n)}] Spark ALS fit {row['spark_fit_s']:.1f} s ({row['spark_fit_cpu_s']:.1f} JVM CPU-s), "
          f"JVM peak RSS {mem.peak:.0f} MB", flush=True)
    seen = read_data(path)[["userID", "itemID"]]
    t0 = time.perf_counter()
    fm = als.factor_model(model, seen)
    row["factor_export_s"] = time.perf_counter() - t0
    fm.save(factors_file(data_dir, n, seed))
    print(f"  factor export {row['factor_export_s']:.1f} s -> {factors_file(data_dir, n, seed)}", flush=True)
    als.release(sdf)
    return row


def stage_topn(n: int, seed: int, data_dir: Path) -> dict:
    path = factors_file(data_dir, n, seed)
    if not path.exists():
        raise SystemExit(f"no Spark factors at {path}: run this size's --stage spark first")
    fm = FactorModel.load(path)
    with PeakRSS(lambda: [os.getpid()]) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        items, _ = fm.top_n_all(TRAINING.top_n, exclude_seen=True)
        row = {"topn_numpy_s": time.perf_counter() - t0, "topn_numpy_cpu_s": time.process_time() - c0}
    row.update(topn_peak_rss_mb=round(mem.peak), top_n=TRAINING.top_n, topn_users=int(items.shape[0]))
    print(f"[{label(n)}] all-user top-{TRAINING.top_n} (numpy, seen masked) for {items.shape[0]:,} users x "
          f"{len(fm.item_ids):,} titles: {row['topn_numpy_s']:.1f} s ({row['topn_numpy_cpu_s']:.1f} CPU-s), "
          f"peak RSS {mem.peak:.0f} MB", flush=True)
    return row


# -- the fit-time curve: fixed per-fit cost + per-sweep cost, both models, same sweeps -----------------

#: the curve's `implicit` variants: the library's default conjugate-gradient solver (``implicit``, the
#: baseline of the target) and its exact Cholesky solve (``implicit-cholesky``: the algorithm Spark runs,
#: a normal equation per user / title built from every rating, O(rank^2) per rating instead of O(rank x
#: CG steps)), to tell the algorithm's share of the gap from the engine's
IMPLICIT_SOLVERS = {"implicit": True, "implicit-cholesky": False}


def cost_model(fits: list[dict]) -> dict:
    """``wall = fixed + sweeps x per_sweep`` (and the same for CPU-seconds), least squares over the fits of
    ONE model on ONE data set at two or more sweep counts (``{"sweeps", "wall_s", "cpu_s"}`` each)."""
    s = np.array([f["sweeps"] for f in fits], float)
    if len(set(s.tolist())) < 2:
        return {}
    out = {}
    for key in ("wall", "cpu"):
        per, fixed = np.polyfit(s, [f[f"{key}_s"] for f in fits], 1)
        out[f"fixed_{key}_s"], out[f"per_sweep_{key}_s"] = round(float(fixed), 3), round(float(per), 3)
    return out


def sweep_ratios(curve: dict, sweeps: int) -> dict:
    """Spark / ``implicit`` from one size's two cost models: per sweep, per fixed cost, and a whole fit of
    ``sweeps`` sweeps (``fixed + sweeps x per_sweep``), wall and CPU."""
    sp, im = curve.get("spark", {}), curve.get("implicit", {})
    if "per_sweep_wall_s" not in sp or "per_sweep_wall_s" not in im:
        return {}
    out = {}
    for key in ("wall", "cpu"):
        out[f"per_sweep_{key}_ratio"] = round(sp[f"per_sweep_{key}_s"] / im[f"per_sweep_{key}_s"], 3)
        whole = [m[f"fixed_{key}_s"] + sweeps * m[f"per_sweep_{key}_s"] for m in (sp, im)]
        out[f"fit{sweeps}_{key}_model_s"] = {"spark": round(whole[0], 2), "implicit": round(whole[1], 2)}
        out[f"fit{sweeps}_{key}_ratio"] = round(whole[0] / whole[1], 3)
    return out


def curve_model(rows: dict, sweeps: int, target: float = 3.0) -> dict:
    """Across sizes: each model's per-sweep and fixed cost as ``a + b x interactions`` (least squares over
    the sizes measured), the whole-fit ratio that gives at ``sweeps`` sweeps, its limit for large data
    (``b_spark / b_implicit`` of a whole fit) and the size where the ratio crosses ``target`` (None when
    the fitted lines never reach it)."""
    pts = sorted((r["interactions"], r["curve"]) for r in rows.values()
                 if all("per_sweep_wall_s" in r.get("curve", {}).get(m, {}) for m in ("spark", "implicit")))
    if len(pts) < 2:
        return {}
    n = np.array([p[0] for p in pts], float)
    out: dict = {"sizes": [int(x) for x in n], "sweeps": sweeps, "target": target}
    for key in ("wall", "cpu"):
        lines = {}
        for m in ("spark", "implicit"):
            per = np.polyfit(n, [c[m][f"per_sweep_{key}_s"] for _, c in pts], 1)
            fixed = np.polyfit(n, [c[m][f"fixed_{key}_s"] for _, c in pts], 1)
            lines[m] = {"per_sweep_s": {"at_0": round(float(per[1]), 3), "per_million": round(float(per[0]) * 1e6, 3)},
                        "fixed_s": {"at_0": round(float(fixed[1]), 3), "per_million": round(float(fixed[0]) * 1e6, 3)}}
        # whole fit = A + B n per model
        ab = {m: (lines[m]["fixed_s"]["at_0"] + sweeps * lines[m]["per_sweep_s"]["at_0"],
                  (lines[m]["fixed_s"]["per_million"] + sweeps * lines[m]["per_sweep_s"]["per_million"]) / 1e6)
              for m in lines}
        (a_s, b_s), (a_i, b_i) = ab["spark"], ab["implicit"]
        limit = b_s / b_i if b_i > 0 else None
        meet = None
        if b_s - target * b_i != 0:  # a_s + b_s n = target (a_i + b_i n)
            x = (target * a_i - a_s) / (b_s - target * b_i)
            meet = int(x) if x > 0 else None
        out[key] = {"lines": lines, f"ratio_limit_large_data": None if limit is None else round(limit, 3),
                    f"interactions_where_ratio_{target:g}x": meet,
                    "ratio_at": {label(int(v)): round((a_s + b_s * v) / (a_i + b_i * v), 3)
                                 for v in (1e5, 1e6, 5e6, 2e7, 1e8)}}
    return out


def curve_data(a, key: str):
    """The curve's data: ``(frame, ALS values, spark parquet path or None)``."""
    if key == SMALL:
        from vodflow.recs.confidence import rating_value
        from vodflow.recs.defaults import MOVIELENS_CONFIDENCE
        from vodflow.recs.movielens import load_movielens
        from vodflow.recs.split import time_split

        if not (a.movielens and Path(a.movielens).exists()):
            raise SystemExit(f"no MovieLens at {a.movielens!r}: pass --movielens DIR (ml-latest-small)")
        train, _ = time_split(load_movielens(Path(a.movielens)), TRAINING.holdout_fraction)
        return train, rating_value(train["rating"].to_numpy(), MOVIELENS_CONFIDENCE), None
    n = parse_size(key)
    path = data_file(Path(a.data_dir), n, a.seed)
    if not path.exists():
        print(f"[{label(n)}] no {path}: generating it (not timed)", flush=True)
        stage_generate(n, a.seed, Path(a.data_dir))
    df = read_data(path)
    return df, df[COL_VALUE].to_numpy(), path


def stage_curve(a, key: str, on_fit=None) -> dict:
    """Both models (or ``--models``) on one data set at each of ``--sweeps``, interleaved (implicit s1,
    Spark s1, implicit s2, ...) so load drift hits both; each fit's wall and CPU-seconds, then per model
    the fixed + per-sweep cost model."""
    from dataclasses import asdict, replace

    df, values, path = curve_data(a, key)
    models = [m.strip() for m in a.models.split(",")]
    sweeps = sorted(int(x) for x in a.sweeps.split(","))
    row: dict = {"interactions": len(df), "users": int(df["userID"].nunique()),
                 "titles": int(df["itemID"].nunique())}
    fits: dict = {m: [] for m in models}
    sdf = None
    if "spark" in models:
        spark = spark_session_warm(a.seed)
        row.update(spark_conf_summary(spark))
        if path is None:
            sdf = als.to_spark_ratings(spark, df, values)
        else:
            from pyspark.sql import functions as F

            sdf = (spark.read.parquet(str(path))
                   .select(F.col("userID").cast("int"), F.col("itemID").cast("int"), F.col(COL_VALUE).cast("double"))
                   .repartition(spark.sparkContext.defaultParallelism).cache())
            sdf.count()
    if any(m in IMPLICIT_SOLVERS for m in models):  # the library's first fit (thread pool, imports): not timed
        warm = synthetic_interactions(20_000, a.seed + 1)
        fit_implicit_als(warm, warm[COL_VALUE].to_numpy(), replace(IMPLICIT_LIB_PARAMS, iterations=1), num_threads=2)
    def curve_so_far() -> dict:
        return {m: {"fits": fits[m], **cost_model(fits[m])} for m in models if fits[m]}

    for s in sweeps:
        for m in (x for x in models if x in IMPLICIT_SOLVERS):
            gc.collect()
            with PeakRSS(lambda: [os.getpid()]) as mem:
                t0, c0 = time.perf_counter(), time.process_time()
                fit_implicit_als(df, values, replace(IMPLICIT_LIB_PARAMS, iterations=s, use_cg=IMPLICIT_SOLVERS[m]),
                                 num_threads=2)
                fits[m].append({"sweeps": s, "wall_s": round(time.perf_counter() - t0, 3),
                                "cpu_s": round(time.process_time() - c0, 3), "peak_rss_mb": round(mem.peak),
                                "load_1m": round(os.getloadavg()[0], 2)})
            print(f"[{key}] {m} {s:2d} sweeps: {fits[m][-1]}", flush=True)
            if on_fit:  # written after every fit: a call cut short by its slot keeps what it measured
                on_fit({**row, "curve": curve_so_far()})
        if "spark" in models:
            jvm = jvm_pids()
            with PeakRSS(jvm_pids) as mem:
                t0, c0 = time.perf_counter(), cpu_seconds(jvm)
                model = als.train_als(sdf, SPARK_IMPLICIT_PARAMS.with_(max_iter=s))
                fits["spark"].append({"sweeps": s, "wall_s": round(time.perf_counter() - t0, 3),
                                      "cpu_s": round(cpu_seconds(jvm) - c0, 3), "peak_rss_mb": round(mem.peak),
                                      "load_1m": round(os.getloadavg()[0], 2)})
            model.userFactors.unpersist()
            model.itemFactors.unpersist()
            del model
            print(f"[{key}] Spark    {s:2d} sweeps: {fits['spark'][-1]}", flush=True)
            if on_fit:
                on_fit({**row, "curve": curve_so_far()})
    if sdf is not None:
        als.release(sdf)
    row["curve"] = {m: {"fits": fits[m], **cost_model(fits[m]),
                        "params": ({k: v for k, v in asdict(SPARK_IMPLICIT_PARAMS).items() if k != "max_iter"}
                                   if m == "spark" else {**IMPLICIT_LIB_PARAMS.as_dict(), "use_cg": IMPLICIT_SOLVERS[m]})}
                    for m in models}
    for m in models:
        print(f"[{key}] {m}: " + ", ".join(f"{k} {v}" for k, v in row["curve"][m].items() if k.endswith("_s")),
              flush=True)
    return row


def spark_session_warm(seed: int):
    """The bench's SparkSession, with one small fit first so JIT and class loading are not timed."""
    from vodflow.spark import get_spark

    spark = get_spark("bench-recs-scale")
    warm = synthetic_interactions(20_000, seed + 1)
    wdf = als.to_spark_ratings(spark, warm, warm[COL_VALUE].to_numpy())
    als.train_als(wdf, SPARK_IMPLICIT_PARAMS.with_(max_iter=3))
    als.release(wdf)
    return spark


def spark_conf_summary(spark) -> dict:
    """The Spark settings a fit time depends on, recorded with it."""
    from vodflow.spark import jvm_native_blas

    c = spark.conf
    return {"spark_conf": {k: c.get(k, None) for k in (
        "spark.driver.memory", "spark.serializer", "spark.default.parallelism", "spark.driver.extraJavaOptions")},
        "spark_num_blocks": als.default_num_blocks(spark), "native_blas": jvm_native_blas(spark)}


def run_stage(a, n: int) -> None:
    """One stage of one size, merged into the results file's scale rows."""
    data_dir = Path(a.data_dir)
    before = {"uptime_before": uptime(), "load_average_before": [round(x, 2) for x in os.getloadavg()],
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(before["uptime_before"], flush=True)
    meta = None
    if a.stage == "spark":
        from vodflow.spark import get_spark, jvm_blas, jvm_native_blas

        spark = get_spark("bench-recs-scale")
        meta = {"native": jvm_native_blas(spark), "blas": jvm_blas(spark), "spark": spark.version,
                "master": spark.sparkContext.master, "driver_memory": spark.conf.get("spark.driver.memory")}
        warm = synthetic_interactions(20_000, a.seed + 1)  # JIT and class loading outside the timed fit
        wdf = als.to_spark_ratings(spark, warm, warm[COL_VALUE].to_numpy())
        als.train_als(wdf, SPARK_IMPLICIT_PARAMS.with_(max_iter=3))
        als.release(wdf)
        row = stage_spark(spark, n, a.seed, data_dir, a.max_iter)
    else:
        row = {"generate": stage_generate, "implicit": stage_implicit, "topn": stage_topn}[a.stage](
            n, a.seed, data_dir)
    info = {**before, "uptime_after": uptime(), "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit(),
            "command": "bench/recs_scale.py " + " ".join(sys.argv[1:])}
    if meta:
        info["driver_memory"] = meta["driver_memory"]
    print(info["uptime_after"], flush=True)
    prev = json.loads(Path(a.results).read_text()).get("scale", {}) if Path(a.results).exists() else {}
    rows = prev.get("rows", {})
    r = {**rows.get(label(n), {}), **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}}
    r.setdefault("stages", {})[a.stage] = info
    if "spark_fit_s" in r and "implicit_fit_s" in r:
        # per sweep when Spark ran fewer sweeps than implicit (--max-iter); a whole fit's ratio otherwise
        sweeps = IMPLICIT_LIB_PARAMS.iterations / r.get("spark_max_iter", SPARK_IMPLICIT_PARAMS.max_iter)
        r["fit_ratio"] = round(r["spark_fit_s"] * sweeps / r["implicit_fit_s"], 3)
        r["fit_ratio_basis"] = ("whole fits, 15 sweeps each" if sweeps == 1 else
                                f"per sweep: Spark {r['spark_max_iter']} sweeps x {sweeps:g} vs implicit's "
                                f"{IMPLICIT_LIB_PARAMS.iterations}")
        if "spark_fit_cpu_s" in r and "implicit_fit_cpu_s" in r:
            r["fit_cpu_ratio"] = round(r["spark_fit_cpu_s"] * sweeps / r["implicit_fit_cpu_s"], 3)
    rows[label(n)] = r
    if meta is None:  # a stage without Spark: keep what the last Spark stage or run recorded
        old = json.loads(Path(a.results).read_text()) if Path(a.results).exists() else {}
        meta = {"native": old.get("native_blas"), "blas": prev.get("blas"), "spark": prev.get("spark"),
                "master": prev.get("master")}
    write(a, rows, meta, prev.get("profile"))


def run_curve(a, key: str) -> None:
    """``--stage curve`` for one data set, merged into ``scale.curve_rows[key]`` (a model fitted in an
    earlier call for the same size -- ``--models implicit`` then ``--models spark`` at 20M -- is kept)."""
    before = {"uptime_before": uptime(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(before["uptime_before"], flush=True)
    partial = {"complete": False}
    row = stage_curve(a, key, lambda r: merge_curve(a, key, r, {**before, **partial}))
    merge_curve(a, key, row, {**before, "complete": True})


def merge_curve(a, key: str, row: dict, before: dict) -> None:
    """Merge one data set's curve row (``row["curve"]``: the models this call fitted) into the results."""
    row = dict(row)
    info = {**before, "uptime_after": uptime(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "commit": commit(), "command": "bench/recs_scale.py " + " ".join(sys.argv[1:])}
    if before.get("complete"):
        print(info["uptime_after"], flush=True)
    old = json.loads(Path(a.results).read_text()) if Path(a.results).exists() else {}
    crows = old.get("scale", {}).get("curve_rows", {})
    name = key if key == SMALL else label(parse_size(key))
    r = crows.get(name, {})
    new = row.pop("curve")
    curve = {**r.get("curve", {}), **new}
    runs = {**r.get("runs", {}), **{m: info for m in new}}
    r = {**r, **row, "curve": curve, "runs": runs}
    r.update(sweep_ratios(curve, SPARK_IMPLICIT_PARAMS.max_iter))
    crows[name] = r
    model = curve_model(crows, SPARK_IMPLICIT_PARAMS.max_iter)
    update: dict = {"scale": {"curve_rows": crows, "fit_model": model}, "date": info["finished"], "commit": info["commit"]}
    fit_seconds = {}
    for size, cr in crows.items():
        for m, name_m in (("spark", "spark-als-implicit"), ("implicit", "implicit-als")):
            for f in cr.get("curve", {}).get(m, {}).get("fits", []):
                fit_seconds[name_m + "@" + size + ("" if f["sweeps"] == SPARK_IMPLICIT_PARAMS.max_iter
                                                   else f"/{f['sweeps']}-sweeps")] = f["wall_s"]
    if fit_seconds:
        update["fit_seconds"] = fit_seconds
        update["fit_seconds_basis"] = ("scale.curve_rows: each fit measured; '@size' alone = the full "
                                       f"{SPARK_IMPLICIT_PARAMS.max_iter} sweeps, '/N-sweeps' = N sweeps")
    small = crows.get(SMALL, {})
    if "fit15_wall_ratio" in small:
        measured = {f["sweeps"]: f["wall_s"] for f in small["curve"]["spark"]["fits"]}, \
            {f["sweeps"]: f["wall_s"] for f in small["curve"]["implicit"]["fits"]}
        full = SPARK_IMPLICIT_PARAMS.max_iter
        if full in measured[0] and full in measured[1]:
            update["fit_ratio_small"] = round(measured[0][full] / measured[1][full], 3)
            update["fit_ratio_small_basis"] = f"measured whole fits, {full} sweeps each, one run"
        else:
            update["fit_ratio_small"] = small["fit15_wall_ratio"]
            update["fit_ratio_small_basis"] = "cost model: fixed + 15 x per-sweep, each side"
        update["fit_ratio_small_size"] = SMALL
    if "fit15_wall_ratio" in crows.get("20m", {}):
        update["fit_ratio_20m"] = crows["20m"]["fit15_wall_ratio"]
        sw = sorted({f["sweeps"] for f in crows["20m"]["curve"]["spark"]["fits"]})
        update["fit_ratio_20m_basis"] = (f"cost model per side (fixed + 15 x per-sweep) from fits at {sw} sweeps; "
                                         f"CPU-seconds ratio {crows['20m']['fit15_cpu_ratio']}")
    res = Path(a.results)
    if fit_seconds and res.exists():  # replace (not merge) the older per-size figures, which stay in scale.rows
        d = json.loads(res.read_text())
        d.pop("fit_seconds", None)
        res.write_text(json.dumps(d, indent=2, default=str) + "\n")
    merge_results(res, update)
    plot_curve(crows, model, CURVE_PLOT)
    print(f"wrote {a.results} and {CURVE_PLOT}", flush=True)


def run_size(spark, n: int, seed: int, compare_max: int, partial=None) -> dict:
    t0 = time.perf_counter()
    df = synthetic_interactions(n, seed)
    gen_s = time.perf_counter() - t0
    users, items = df["userID"].nunique(), df["itemID"].nunique()
    print(f"[{label(n)}] {len(df):,} interactions, {users:,} users, {items:,} titles (generated in {gen_s:.1f} s)",
          flush=True)
    values = df[COL_VALUE].to_numpy()
    row: dict = {"interactions": len(df), "users": int(users), "titles": int(items), "generate_s": round(gen_s, 2)}

    gc.collect()
    with PeakRSS(lambda: [os.getpid()]) as mem:
        t0 = time.perf_counter()
        fm_lib = fit_implicit_als(df, values, IMPLICIT_LIB_PARAMS, num_threads=2)
        row["implicit_fit_s"] = time.perf_counter() - t0
    row["implicit_peak_rss_mb"] = round(mem.peak)
    print(f"  implicit ALS fit {row['implicit_fit_s']:.1f} s, python peak RSS {mem.peak:.0f} MB", flush=True)
    # the same all-user top-N on implicit's factors (same users, titles, rank and seen sets as Spark's):
    # recorded before the Spark fit, so a size whose Spark fit does not finish still has it
    row.update(topn_on_implicit_factors(fm_lib))
    if partial is not None:
        partial({k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in row.items()})
    del fm_lib
    gc.collect()

    sdf = als.to_spark_ratings(spark, df, values)  # cached + counted: outside the timer
    with PeakRSS(jvm_pids) as mem:
        t0 = time.perf_counter()
        model = als.train_als(sdf, SPARK_IMPLICIT_PARAMS)
        row["spark_fit_s"] = time.perf_counter() - t0
    row["spark_jvm_peak_rss_mb"] = round(mem.peak)
    row["fit_ratio"] = row["spark_fit_s"] / row["implicit_fit_s"]
    print(f"  Spark ALS fit {row['spark_fit_s']:.1f} s (x{row['fit_ratio']:.1f}), JVM peak RSS {mem.peak:.0f} MB",
          flush=True)

    t0 = time.perf_counter()
    fm = als.factor_model(model, df)
    row["factor_export_s"] = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    fm.top_n_all(TRAINING.top_n, exclude_seen=True)
    row["topn_numpy_s"] = time.perf_counter() - t0
    row["topn_numpy_cpu_s"] = time.process_time() - c0  # this process's CPU: depends less on the machine's load
    row["top_n"] = TRAINING.top_n
    print(f"  factor export {row['factor_export_s']:.1f} s; all-user top-{TRAINING.top_n} (numpy, seen masked) "
          f"{row['topn_numpy_s']:.1f} s ({row['topn_numpy_cpu_s']:.1f} CPU-s)", flush=True)
    if n <= compare_max:
        t0 = time.perf_counter()
        recs = als.recommend_top_k(model, sdf, k=TRAINING.top_n).toPandas()
        row["topn_spark_s"] = time.perf_counter() - t0
        row["topn_same_lists"] = same_lists(fm, recs, TRAINING.top_n)
        print(f"  all-user top-{TRAINING.top_n} (recommendForAllUsers + seen filter) {row['topn_spark_s']:.1f} s; "
              f"identical lists for {row['topn_same_lists']:.1%} of users", flush=True)
    als.release(sdf)
    model.userFactors.unpersist()
    model.itemFactors.unpersist()
    del model, fm, df, sdf
    gc.collect()
    return {k2: (round(v, 3) if isinstance(v, float) else v) for k2, v in row.items()}


def movielens_fits(spark, data: Path) -> dict:
    """Both fits on ml-latest-small's time-split train (the MovieLens benchmark's confidences): the
    small-data ratio of the issue's target (Spark within 5x of `implicit`)."""
    from vodflow.recs.confidence import rating_value
    from vodflow.recs.defaults import MOVIELENS_CONFIDENCE
    from vodflow.recs.movielens import load_movielens
    from vodflow.recs.split import time_split

    train, _ = time_split(load_movielens(data), TRAINING.holdout_fraction)
    values = rating_value(train["rating"].to_numpy(), MOVIELENS_CONFIDENCE)
    t0 = time.perf_counter()
    fit_implicit_als(train, values, IMPLICIT_LIB_PARAMS, num_threads=2)
    lib = time.perf_counter() - t0
    sdf = als.to_spark_ratings(spark, train, values)
    t0 = time.perf_counter()
    als.train_als(sdf, SPARK_IMPLICIT_PARAMS)
    sp = time.perf_counter() - t0
    als.release(sdf)
    print(f"[ml-latest-small] {len(train):,} train rows: implicit {lib:.2f} s, Spark {sp:.2f} s (x{sp / lib:.1f})",
          flush=True)
    return {"interactions": len(train), "implicit_fit_s": round(lib, 3), "spark_fit_s": round(sp, 3),
            "fit_ratio": round(sp / lib, 3), "load_average": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,5M,20M", help="interaction counts, comma-separated (default 1M,5M,20M)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-max", type=parse_size, default=parse_size("1M"),
                    help="also time Spark's recommendForAllUsers path up to this size (default 1M)")
    ap.add_argument("--profile", type=parse_size, default=0, metavar="SIZE",
                    help="first compare ALS job settings on SIZE synthetic interactions (e.g. 200K)")
    ap.add_argument("--results", default=str(RESULTS), help="results file to merge into")
    ap.add_argument("--keep-previous", action="store_true",
                    help="keep the rows of the results file's last scale run for the sizes this run does not "
                         "measure (each row keeps its own run's date and commit): to add one size to a curve")
    ap.add_argument("--movielens", default=str(REPO.parent / "shared" / "data" / "movielens" / "ml-latest-small"),
                    help="ml-latest-small directory, for the small-data fit ratio (skipped when absent or '')")
    ap.add_argument("--stage", choices=STAGES, default=None,
                    help="run only this stage of ONE size (see the module doc); default: every stage of every "
                         "size in one process")
    ap.add_argument("--max-iter", type=int, default=None,
                    help="--stage spark only: ALS sweeps (default 15, the curve's); fewer when a whole fit does not "
                         "fit the slot, the ratio is then taken per sweep and the row says so")
    ap.add_argument("--models", default="implicit,spark",
                    help="--stage curve only: which models to fit, of spark, implicit, implicit-cholesky (default "
                         "implicit,spark, interleaved in one run)")
    ap.add_argument("--sweeps", default="1,5",
                    help="--stage curve only: the sweep counts each model is fitted at (default 1,5); fixed and "
                         "per-sweep cost are the least-squares line through them")
    ap.add_argument("--data-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "vodflow-recs-scale"),
                    help="where --stage keeps the generated interactions and Spark's factors (default %(default)s)")
    a = ap.parse_args(argv)
    if a.stage == "curve":
        if "," in a.sizes:
            ap.error("--stage curve runs one size: pass a single --sizes value (or ml-latest-small)")
        if a.sizes != SMALL:
            default_shape(parse_size(a.sizes))
        run_curve(a, a.sizes)
        return 0
    sizes = sorted(parse_size(s) for s in a.sizes.split(","))
    for n in sizes:
        default_shape(n)
    if a.stage:
        if len(sizes) != 1:
            ap.error(f"--stage {a.stage} runs one size: pass a single --sizes value, e.g. --sizes 20M")
        run_stage(a, sizes[0])
        return 0

    from vodflow.spark import get_spark, jvm_blas, jvm_native_blas

    spark = get_spark("bench-recs-scale")
    blas = jvm_blas(spark)
    native = jvm_native_blas(spark)
    meta = {"native": native, "blas": blas, "spark": spark.version, "master": spark.sparkContext.master}
    print(f"Spark {spark.version} {spark.sparkContext.master}; netlib BLAS {blas['blas']}, LAPACK {blas['lapack']} "
          f"(native_blas={native}); load average {os.getloadavg()}", flush=True)
    # a warm-up fit, so JIT and class loading are not billed to the first timed model
    warm = synthetic_interactions(20_000, a.seed + 1)
    wdf = als.to_spark_ratings(spark, warm, warm[COL_VALUE].to_numpy())
    als.train_als(wdf, SPARK_IMPLICIT_PARAMS.with_(max_iter=3))
    als.release(wdf)
    prof = None
    if a.profile:
        df = synthetic_interactions(a.profile, a.seed)
        sdf = als.to_spark_ratings(spark, df, df[COL_VALUE].to_numpy())
        prof = profile(spark, sdf, SPARK_IMPLICIT_PARAMS)
        als.release(sdf)
        del df, sdf
    rows = {}
    if a.keep_previous and Path(a.results).exists():
        prev = json.loads(Path(a.results).read_text()).get("scale", {})
        for k, r in prev.get("rows", {}).items():
            if k == "ml-latest-small" or k not in {label(n) for n in sizes}:
                rows[k] = {"run": {"date": prev.get("date"), "commit": prev.get("commit")}, **r}
    if a.movielens and Path(a.movielens).exists():
        rows["ml-latest-small"] = movielens_fits(spark, Path(a.movielens))
    else:
        print(f"no MovieLens at {a.movielens!r}: the small-data ratio is not measured here (pass --movielens)")
    for n in sizes:
        load0 = os.getloadavg()

        def partial(row, n=n, load0=load0) -> None:  # the implicit half of a size, written before Spark's fit
            rows[label(n)] = {**row, "spark_fit": "not finished", "load_average_before": [round(x, 2) for x in load0]}
            write(a, rows, meta, prof)

        rows[label(n)] = {**run_size(spark, n, a.seed, a.compare_max, partial),
                          "load_average_before": [round(x, 2) for x in load0],
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]}
        # written after every size, so a size that does not finish still leaves the ones before it
        write(a, rows, meta, prof)
    return 0


def plot(rows: dict, path: Path) -> None:
    """Fit time and peak memory against interactions, both models (log-log), and the ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted(((r["interactions"], r) for r in rows.values() if "spark_fit_s" in r), key=lambda p: p[0])
    mem = [(n, r) for n, r in pts if "spark_jvm_peak_rss_mb" in r]  # ml-latest-small: times only
    if not pts:
        return
    x = [n for n, _ in pts]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 4))
    # a row fitted with fewer sweeps (--max-iter) is drawn at its per-sweep time x 15, and labelled so
    ax1.plot(x, [r["spark_fit_s"] * SPARK_IMPLICIT_PARAMS.max_iter / r.get("spark_max_iter", SPARK_IMPLICIT_PARAMS.max_iter)
                 for _, r in pts], "o-", label="Spark ALS (local[2]; 20M: 3 sweeps x 5)")
    ax1.plot(x, [r["implicit_fit_s"] for _, r in pts], "s-", label="implicit ALS (2 threads)")
    ax1.set(xscale="log", yscale="log", xlabel="interactions", ylabel="fit (s)", title="Fit time, rank 32, 15 it. (81k = ml-latest-small)")
    ax2.plot([n for n, _ in mem], [r["spark_jvm_peak_rss_mb"] for _, r in mem], "o-", label="Spark JVM")
    ax2.plot([n for n, _ in mem], [r["implicit_peak_rss_mb"] for _, r in mem], "s-", label="Python (implicit)")
    ax2.set(xscale="log", xlabel="interactions", ylabel="peak RSS (MB)", title="Peak memory during the fit")
    ax3.plot(x, [r["fit_ratio"] for _, r in pts], "o-", color="C3")
    ax3.axhline(3, ls="--", color="grey", label="target at 20M: 3x")
    ax3.set(xscale="log", xlabel="interactions", ylabel="Spark / implicit", title="Fit time ratio", ylim=(0, None))
    for ax in (ax1, ax2, ax3):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_curve(crows: dict, model: dict, path: Path) -> None:
    """Per-sweep and fixed cost of each model against interactions, and the whole-fit ratio: measured
    points and the fitted lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted((r["interactions"], r) for r in crows.values()
                 if all("per_sweep_wall_s" in r.get("curve", {}).get(m, {}) for m in ("spark", "implicit")))
    if not pts:
        return
    x = np.array([n for n, _ in pts], float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for m, mark in (("spark", "o"), ("implicit", "s")):
        axes[0].plot(x, [r["curve"][m]["per_sweep_wall_s"] for _, r in pts], mark + "-", label=f"{m} wall")
        axes[0].plot(x, [r["curve"][m]["per_sweep_cpu_s"] for _, r in pts], mark + ":", label=f"{m} CPU")
        axes[1].plot(x, [r["curve"][m]["fixed_wall_s"] for _, r in pts], mark + "-", label=f"{m} wall")
    chol = [(n, r["curve"]["implicit-cholesky"]) for n, r in pts if "per_sweep_wall_s" in r["curve"].get("implicit-cholesky", {})]
    if chol:  # the library's exact solve: Spark's algorithm, the library's engine
        axes[0].plot([n for n, _ in chol], [c["per_sweep_wall_s"] for _, c in chol], "^-", label="implicit-cholesky wall")
    axes[0].set(xscale="log", yscale="log", xlabel="interactions", ylabel="s per sweep", title="Per-sweep cost")
    axes[1].set(xscale="log", xlabel="interactions", ylabel="s per fit", title="Fixed cost per fit")
    sweeps = model.get("sweeps", SPARK_IMPLICIT_PARAMS.max_iter)
    axes[2].plot(x, [r[f"fit{sweeps}_wall_ratio"] for _, r in pts], "o", color="C3", label="measured (wall)")
    axes[2].plot(x, [r[f"fit{sweeps}_cpu_ratio"] for _, r in pts], "x", color="C4", label="measured (CPU)")
    if model.get("wall"):
        # from 1M up: the lines are fitted unweighted, so the large sizes set them; below, the measured points
        xs = np.logspace(np.log10(max(x.min(), 1e6)), np.log10(max(x.max(), 1e8)), 60)
        for key, col in (("wall", "C3"), ("cpu", "C4")):
            ln = model[key]["lines"]
            whole = {m: (ln[m]["fixed_s"]["at_0"] + sweeps * ln[m]["per_sweep_s"]["at_0"])
                     + (ln[m]["fixed_s"]["per_million"] + sweeps * ln[m]["per_sweep_s"]["per_million"]) * xs / 1e6
                     for m in ln}
            axes[2].plot(xs, whole["spark"] / whole["implicit"], "--", color=col, label=f"model ({key})")
    axes[2].axhline(3, ls=":", color="grey", label="target at 20M: 3x")
    axes[2].set(xscale="log", xlabel="interactions", ylabel="Spark / implicit",
                title=f"Whole fit ({sweeps} sweeps) ratio", ylim=(0, 1.1 * max(
                    max(r[f"fit{sweeps}_{k}_ratio"] for _, r in pts) for k in ("wall", "cpu"))))
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(a, rows: dict, meta: dict, prof) -> None:
    command = "bench/recs_scale.py " + " ".join(sys.argv[1:])
    small = "ml-latest-small" if "ml-latest-small" in rows else min(rows, key=lambda k: rows[k]["interactions"])
    update = {
        "fit_seconds": {f"{model}@{size}": rows[size][key] for size in rows
                        for model, key in (("spark-als-implicit", "spark_fit_s"), ("implicit-als", "implicit_fit_s"))
                        if key in rows[size]},
        "fit_ratio_small": rows[small]["fit_ratio"],
        "fit_ratio_small_size": small,
        "native_blas": meta["native"],
        "scale": {"rows": rows, "blas": meta["blas"], "profile": prof, "spark": meta["spark"],
                  "master": meta["master"], "command": command,
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit(),
    }
    if "20m" in rows:
        r20 = rows["20m"]
        if "fit_ratio" in r20:
            update["fit_ratio_20m"] = r20["fit_ratio"]
            update["fit_ratio_20m_basis"] = r20.get("fit_ratio_basis", "whole fits")
        # on Spark's factors (the DAG's path) when the Spark fit finished, else on implicit's (same shape)
        update["all_users_topn_20m_s"] = r20.get("topn_numpy_s", r20.get("topn_numpy_implicit_factors_s"))
    merge_results(Path(a.results), update)
    plot(rows, PLOT)
    print(f"wrote {a.results} and {PLOT}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
