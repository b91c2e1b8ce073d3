"""Spark ALS: implicit-feedback training, seen-filtered top-K, factor export, small tuning.

All Spark entry points take a DataFrame of ``(user int, item int, value double)``
(``value`` = the confidence input of :mod:`vodflow.recs.confidence`) and a
:class:`ALSParams`.  Training always sets a checkpoint directory (under
``VODFLOW_HOME/spark-checkpoints`` unless given) and ``checkpointInterval`` so the
RDD lineage of long runs is cut and cannot overflow the JVM stack.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vodflow.recs.factors import FactorModel, seen_csr
from vodflow.recs.params import ALSParams
from vodflow.recs.movielens import COL_ITEM, COL_USER

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

COL_VALUE = "value"


#: The explicit ALS of the Microsoft Recommenders MovieLens benchmark (its published "ALS" row).
MS_RECOMMENDERS_EXPLICIT = ALSParams(rank=10, max_iter=15, reg_param=0.05, alpha=0.1,
                                     implicit_prefs=False, nonnegative=False)


def ensure_checkpoint_dir(spark: "SparkSession", path: str | Path | None = None) -> str:
    """Set the SparkContext checkpoint dir if none is set; return it.

    Default: ``VODFLOW_HOME/spark-checkpoints`` (Spark adds a unique subdirectory per context).
    """
    sc = spark.sparkContext
    current = sc.getCheckpointDir()
    if path is None and current:
        return current
    if path is None:
        from vodflow.settings import get_settings

        path = get_settings().home / "spark-checkpoints"
    p = str(path)
    if "://" not in p:
        Path(p).mkdir(parents=True, exist_ok=True)
    sc.setCheckpointDir(p)
    return sc.getCheckpointDir() or p


def to_spark_ratings(spark: "SparkSession", pdf: pd.DataFrame, value: np.ndarray | None = None,
                     col_user: str = COL_USER, col_item: str = COL_ITEM,
                     value_col: str = COL_VALUE) -> "DataFrame":
    """A materialised Spark frame ``(user int, item int, value double)`` from a pandas ratings frame.

    ``localCheckpoint`` rather than ``cache``: ``createDataFrame(pandas)`` makes a ``LocalRelation``
    that holds every row in the query plan, and under ``cache()`` each later query -- every
    ``ALS.fit`` (``select(...).rdd``, its instrumentation) -- re-analysed and re-canonicalised those
    rows to find the cached data: ~29% of a 1-sweep fit at 1M (a profile, docs/benchmarks-recs.md).
    The checkpoint stores the partitions once (memory, spilling to disk) and the frame's plan becomes
    a scan of them.  ``unpersist()`` does not apply to it: its blocks go when the frame is garbage
    collected (Spark's context cleaner), or use :func:`release`.
    """
    from pyspark.sql import types as T

    vals = pdf["rating"].to_numpy(dtype=float) if value is None else np.asarray(value, dtype=float)
    data = pd.DataFrame({col_user: pdf[col_user].to_numpy(dtype=np.int32),
                         col_item: pdf[col_item].to_numpy(dtype=np.int32),
                         value_col: vals})
    schema = T.StructType([T.StructField(col_user, T.IntegerType(), False),
                           T.StructField(col_item, T.IntegerType(), False),
                           T.StructField(value_col, T.DoubleType(), False)])
    n = spark.sparkContext.defaultParallelism
    return spark.createDataFrame(data, schema=schema).repartition(n).localCheckpoint(eager=True)


def release(df: "DataFrame") -> None:
    """Free a frame from :func:`to_spark_ratings` now (its checkpointed blocks), or unpersist a cached one."""
    df.unpersist()
    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() == "LogicalRDD":  # a checkpoint: the RDD holds the blocks
        plan.rdd().unpersist(False)


def default_num_blocks(spark: "SparkSession") -> int:
    """One ALS block per core: ``N`` for ``local[N]`` (``local[*]``: the CPU count), else default parallelism.

    Why not ``defaultParallelism``: vodflow sets it to the shuffle-partition count (4 on
    ``local[2]``), and every ALS block adds tasks and shuffle blocks to each of the ~30
    half-iterations while the solves cannot use more threads than there are cores.  On
    ml-latest-small (2 cores) 4 -> 2 blocks, with checkpointing every 10 iterations and no
    extra count jobs, cut the fit from ~8-11 s to ~6.5 s (docs/benchmarks-recs.md).
    """
    sc = spark.sparkContext
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\d+)?\]", sc.master or "")
    if m:
        return int(m.group(1)) if m.group(1) != "*" else (os.cpu_count() or 1)
    if sc.master == "local":
        return 1
    return sc.defaultParallelism


def make_als(params: ALSParams, spark: "SparkSession", col_user: str = COL_USER, col_item: str = COL_ITEM,
             value_col: str = COL_VALUE):
    from pyspark.ml.recommendation import ALS

    blocks = params.num_blocks or default_num_blocks(spark)
    return ALS(rank=params.rank, maxIter=params.max_iter, regParam=params.reg_param, alpha=params.alpha,
               implicitPrefs=params.implicit_prefs, nonnegative=params.nonnegative,
               userCol=col_user, itemCol=col_item, ratingCol=value_col, coldStartStrategy="drop",
               checkpointInterval=params.checkpoint_interval, seed=params.seed,
               numUserBlocks=blocks, numItemBlocks=blocks,
               # Spark's defaults, stated because train_als relies on them: with a final storage
               # level other than NONE, ALS.fit persists and counts both factor tables itself.
               intermediateStorageLevel="MEMORY_AND_DISK", finalStorageLevel="MEMORY_AND_DISK")


def train_als(ratings: "DataFrame", params: ALSParams = ALSParams(), col_user: str = COL_USER,
              col_item: str = COL_ITEM, value_col: str = COL_VALUE,
              checkpoint_dir: str | Path | None = None) -> "ALSModel":
    """Fit ALS; both factor tables are materialised (persisted and counted) when this returns.

    ``ALS.fit`` already persists and counts the user and item factor RDDs (finalStorageLevel
    ``MEMORY_AND_DISK``, set in :func:`make_als`), so timings are honest without counting the
    ``userFactors`` / ``itemFactors`` DataFrames again -- those two extra count jobs each walked
    the whole lineage (~0.1-0.3 s per fit on 2 cores).
    """
    spark = ratings.sparkSession
    ensure_checkpoint_dir(spark, checkpoint_dir)
    return make_als(params, spark, col_user, col_item, value_col).fit(ratings)


def recommend_top_k(model: "ALSModel", seen: "DataFrame", k: int = 10, users: "DataFrame | None" = None,
                    overfetch: int | None = None, col_user: str = COL_USER,
                    col_item: str = COL_ITEM) -> "DataFrame":
    """Top ``k`` *unseen* items per user: ``(user, item, score, rank)``.

    ``recommendForAllUsers`` ranks over every item, including the ones the user
    already has, so we fetch ``k + overfetch`` per user and drop seen pairs.
    ``overfetch=None`` (default) is adaptive: a first pass fetches ``k`` + the
    90th percentile of seen counts for everybody; the few heavy users left with
    fewer than ``k`` unseen items are re-fetched with ``k`` + their own maximum
    seen count (``recommendForUserSubset``).  Either way every user gets ``k``
    unseen items whenever the catalog has them.  ``users`` restricts to a subset
    (a frame with the user column).
    """
    from pyspark.sql import functions as F

    seen_pairs = seen.select(col_user, col_item).distinct()
    if overfetch is not None:
        n_items = model.itemFactors.count()
        return _top_k_pass(model, seen_pairs, k, int(min(n_items, k + overfetch)), users, col_user, col_item)
    counts = seen_pairs.groupBy(col_user).count().localCheckpoint()  # small; reused below
    n_items = model.itemFactors.count()
    q90, qmax = counts.agg(F.percentile_approx("count", 0.9), F.max("count")).first()
    q90, qmax = int(q90 or 0), int(qmax or 0)
    # localCheckpoint: computed once, lineage cut, cleaned up when the frame is garbage collected
    first = _top_k_pass(model, seen_pairs, k, int(min(n_items, k + q90)), users, col_user, col_item)
    if qmax <= q90:
        return first
    first = first.localCheckpoint()
    short = first.groupBy(col_user).count().where(F.col("count") < k).select(col_user)
    base = users.select(col_user) if users is not None else counts.select(col_user)
    missing = base.join(first.select(col_user).distinct(), col_user, "left_anti")  # nothing left at all
    redo = (short.unionByName(missing).distinct().join(counts, col_user)
            .where(F.col("count") > q90).localCheckpoint())
    if redo.isEmpty():
        return first
    fetch = int(min(n_items, k + redo.agg(F.max("count")).first()[0]))
    second = _top_k_pass(model, seen_pairs, k, fetch, redo.select(col_user), col_user, col_item)
    return first.join(redo.select(col_user), col_user, "left_anti").unionByName(second)


def _top_k_pass(model: "ALSModel", seen_pairs: "DataFrame", k: int, fetch: int, users: "DataFrame | None",
                col_user: str, col_item: str) -> "DataFrame":
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    recs = model.recommendForAllUsers(fetch) if users is None else model.recommendForUserSubset(users, fetch)
    flat = (recs.select(col_user, F.posexplode("recommendations").alias("pos", "rec"))
            .select(col_user, F.col(f"rec.{col_item}").alias(col_item), F.col("rec.rating").alias("score"), "pos"))
    unseen = flat.join(seen_pairs, [col_user, col_item], "left_anti")
    w = Window.partitionBy(col_user).orderBy(F.col("pos"))
    return (unseen.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= k)
            .select(col_user, col_item, "score", "rank"))


def factors_to_numpy(model: "ALSModel") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(user_ids, user_factors, item_ids, item_factors)`` sorted by id, float32.

    Through Arrow (``toPandas`` with Arrow on for the call, sorted in numpy): collecting Row
    objects took minutes for a few hundred thousand users; Arrow moves the factor arrays in bulk.
    """
    spark = model.userFactors.sparkSession
    key = "spark.sql.execution.arrow.pyspark.enabled"
    before = spark.conf.get(key, "false")
    spark.conf.set(key, "true")
    try:
        def grab(df: "DataFrame") -> tuple[np.ndarray, np.ndarray]:
            pdf = df.select("id", "features").toPandas()
            ids = pdf["id"].to_numpy(dtype=np.int64)
            order = np.argsort(ids, kind="stable")
            f = (np.vstack(pdf["features"].to_numpy()[order]).astype(np.float32, copy=False) if len(ids)
                 else np.zeros((0, model.rank), np.float32))
            return ids[order], f.reshape(len(ids), model.rank)

        uid, uf = grab(model.userFactors)
        iid, itf = grab(model.itemFactors)
    finally:
        spark.conf.set(key, before)
    return uid, uf, iid, itf


def factor_model(model: "ALSModel", seen: pd.DataFrame, user_ids: Sequence[Any] | np.ndarray | None = None,
                 item_ids: Sequence[Any] | np.ndarray | None = None, meta: dict[str, Any] | None = None,
                 col_user: str = COL_USER, col_item: str = COL_ITEM) -> FactorModel:
    """Collect the factors into a :class:`FactorModel` (numpy serving / evaluation).

    ``seen`` is a pandas frame of the training (user, item) int pairs.  ``user_ids`` /
    ``item_ids`` map the Spark int ids to external ids (index ``i`` -> id): pass the
    arrays returned by :func:`vodflow.recs.training_data.build_training_data`; by
    default the int ids are kept.
    """
    uid, uf, iid, itf = factors_to_numpy(model)
    u_row = pd.Series(np.arange(len(uid)), index=uid)
    i_row = pd.Series(np.arange(len(iid)), index=iid)
    s = seen[[col_user, col_item]].drop_duplicates()
    s = s[s[col_user].isin(u_row.index) & s[col_item].isin(i_row.index)]
    su = u_row.loc[s[col_user].to_numpy()].to_numpy()
    si = i_row.loc[s[col_item].to_numpy()].to_numpy()
    indptr, indices = seen_csr(su, si, len(uid))
    pop = np.bincount(si, minlength=len(iid)).astype(np.int64)
    ext_u = uid if user_ids is None else np.asarray(user_ids)[uid]
    ext_i = iid if item_ids is None else np.asarray(item_ids)[iid]
    info = {"rank": model.rank, **(meta or {})}
    return FactorModel(ext_u, ext_i, uf, itf, indptr, indices, pop, info)


def export_factors(model: "ALSModel", path: str | Path, seen: pd.DataFrame,
                   user_ids: Sequence[Any] | np.ndarray | None = None,
                   item_ids: Sequence[Any] | np.ndarray | None = None,
                   meta: dict[str, Any] | None = None, col_user: str = COL_USER,
                   col_item: str = COL_ITEM) -> Path:
    """Write the model's factors, id maps, seen items and popularity to ``path`` (``np.savez``)."""
    return factor_model(model, seen, user_ids, item_ids, meta, col_user, col_item).save(path)


# -- tuning ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TuneResult:
    params: ALSParams
    metrics: dict[str, float]
    seconds: float


def default_grid(base: ALSParams = ALSParams()) -> list[ALSParams]:
    """The small grid ``bench --tune`` searches: regularisation x confidence scale, at the base rank."""
    return [base.with_(reg_param=r, alpha=a) for r in (0.1, 0.3, 1.0) for a in (1.0, 3.0, 10.0)]


def tune_als(spark: "SparkSession", fit: pd.DataFrame, valid: pd.DataFrame, grid: Iterable[ALSParams],
             value_fn=None, k: int = 10, metric: str = "nDCG@k",
             col_user: str = COL_USER, col_item: str = COL_ITEM) -> list[TuneResult]:
    """Train each grid point on ``fit`` and score top-``k`` on ``valid`` (both carved from TRAIN).

    ``value_fn(pdf) -> np.ndarray`` turns ratings into ALS values (default: the rating).
    Returns results sorted best first by ``metric``.
    """
    from vodflow.recs.evaluate import evaluate_factor_model

    df = to_spark_ratings(spark, fit, None if value_fn is None else value_fn(fit), col_user, col_item)
    out = []
    try:
        for p in grid:
            t0 = time.perf_counter()
            m = train_als(df, p, col_user, col_item)
            secs = time.perf_counter() - t0
            fm = factor_model(m, fit, col_user=col_user, col_item=col_item)
            res = evaluate_factor_model(fm, valid, k=k, col_user=col_user, col_item=col_item)
            log.info("tune %s -> %s=%.4f (%.1fs)", p, metric, res[metric], secs)
            out.append(TuneResult(p, res, secs))
    finally:
        release(df)
    return sorted(out, key=lambda r: -r.metrics[metric])
