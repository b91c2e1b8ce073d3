"""Implicit training data from vodflow's Delta ``user-title`` table.

Input table columns: ``user_id string, video_id string, watch_fraction double,
completed boolean, last_watched timestamp`` (one row per user and title; if a
pair repeats, its largest value is kept).

:func:`build_training_data` pins the table version first (the latest, unless one
is given) and reads exactly that version with ``versionAsOf``, so a training run
records ``(table_path, version)`` and can be reproduced later with Delta time
travel -- even while the table keeps being written.  Recency is measured from the
newest ``last_watched`` of that snapshot (not the wall clock), so the same
version always yields the same confidences.

String ids are mapped to dense ints (sorted order, so the mapping is a pure
function of the snapshot); ``user_ids[i]`` / ``item_ids[j]`` map back.  The maps are
computed inside Spark (a row number over the sorted distinct ids), not sent from Python:
a frame made with ``createDataFrame`` from local rows is a ``LocalRelation`` holding the
rows in its plan, and every later query over the ratings (each ``ALS.fit``, each count)
re-analysed and re-canonicalised those rows -- 400k users at 20M interactions -- when
matching the cached plan (docs/benchmarks-recs.md, session 14).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vodflow.recs.confidence import WatchWeights, watch_value_column

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

USER_COL = "user"
ITEM_COL = "item"
VALUE_COL = "value"
SOURCE_COLUMNS = ("user_id", "video_id", "watch_fraction", "completed", "last_watched")


@dataclass
class TrainingData:
    """ALS input plus everything needed to reproduce and serve it."""

    ratings: "DataFrame"           # user int, item int, value double (cached)
    user_ids: np.ndarray           # int index -> user_id string
    item_ids: np.ndarray           # int index -> video_id string
    user_map: "DataFrame"          # user_id string, user int (cached; computed in Spark: dense_ids)
    item_map: "DataFrame"          # video_id string, item int (cached; computed in Spark: dense_ids)
    table_path: str
    version: int                   # Delta version read (time travel: versionAsOf)
    version_timestamp: str | None  # commit timestamp of that version
    reference_time: str | None     # newest last_watched, the recency origin
    weights: WatchWeights
    stats: dict[str, Any] = field(default_factory=dict)

    def lineage(self) -> dict[str, Any]:
        """Flat dict for MLflow params/tags: where the data came from and how it was weighted."""
        return {"table_path": self.table_path, "table_version": self.version,
                "table_version_timestamp": self.version_timestamp, "reference_time": self.reference_time,
                **{f"conf_{k}": v for k, v in self.weights.as_dict().items()}, **self.stats}

    def unpersist(self) -> None:
        """Drop the cached frames (ratings and the id maps)."""
        for df in (self.ratings, self.user_map, self.item_map):
            df.unpersist()

    def seen_pandas(self):
        """Training (user, item) int pairs as pandas, for :func:`vodflow.recs.als.export_factors`."""
        from vodflow.spark import to_pandas

        return to_pandas(self.ratings.select(USER_COL, ITEM_COL))


def latest_version(spark: "SparkSession", table_path: str) -> tuple[int, str | None]:
    """``(version, commit timestamp)`` of the table's newest commit."""
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, table_path).history(1).select("version", "timestamp").first()
    return int(row["version"]), (str(row["timestamp"]) if row["timestamp"] is not None else None)


def _version_timestamp(spark: "SparkSession", table_path: str, version: int) -> str | None:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    row = (DeltaTable.forPath(spark, table_path).history().filter(F.col("version") == version)
           .select("timestamp").first())
    return str(row["timestamp"]) if row and row["timestamp"] is not None else None


def build_training_data(spark: "SparkSession", table_path: str, weights: WatchWeights = WatchWeights(),
                        version: int | None = None, min_value: float = 0.0) -> TrainingData:
    """Read ``table_path`` at ``version`` (default: latest) and build ALS training data.

    Rows whose value is ``<= min_value`` are dropped (Spark ALS would treat them as
    negative preferences anyway).
    """
    from pyspark.sql import functions as F

    if version is None:
        version, ts = latest_version(spark, table_path)
    else:
        ts = _version_timestamp(spark, table_path, version)
    raw = spark.read.format("delta").option("versionAsOf", version).load(table_path)
    missing = [c for c in SOURCE_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{table_path} v{version} lacks columns {missing}")
    raw = raw.select(*SOURCE_COLUMNS).where(F.col("user_id").isNotNull() & F.col("video_id").isNotNull())

    ref_df = raw.agg(F.max("last_watched").alias("__ref"))
    ref = ref_df.select(F.date_format("__ref", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")).first()[0]  # session tz is UTC
    age_days = (F.col("__ref").cast("double") - F.col("last_watched").cast("double")) / 86400.0
    scored = (raw.crossJoin(F.broadcast(ref_df))
              .withColumn(VALUE_COL, watch_value_column(F.col("watch_fraction"), F.col("completed"),
                                                        age_days, weights))
              .groupBy("user_id", "video_id").agg(F.max(VALUE_COL).alias(VALUE_COL))
              .where(F.col(VALUE_COL) > F.lit(min_value)))

    scored = scored.cache()  # read by both id maps and the ratings; dropped once the ratings are cached
    umap, user_ids = dense_ids(scored, "user_id", USER_COL)
    imap, item_ids = dense_ids(scored, "video_id", ITEM_COL)
    ratings = (scored.join(F.broadcast(umap), "user_id").join(F.broadcast(imap), "video_id")
               .select(USER_COL, ITEM_COL, F.col(VALUE_COL).cast("double").alias(VALUE_COL))
               .repartition(spark.sparkContext.defaultParallelism).cache())
    n = ratings.count()
    scored.unpersist()
    return TrainingData(
        ratings=ratings, user_ids=user_ids, item_ids=item_ids, user_map=umap, item_map=imap,
        table_path=table_path, version=version, version_timestamp=ts, reference_time=ref, weights=weights,
        stats={"rows": n, "users": int(len(user_ids)), "items": int(len(item_ids))},
    )


def dense_ids(df: "DataFrame", col: str, out: str) -> tuple["DataFrame", np.ndarray]:
    """``(map, ids)``: a cached Spark frame ``(col string, out int)`` numbering the distinct values of
    ``col`` from 0 in sorted order, and those values as a numpy array (``ids[i]`` has number ``i``).

    Spark orders strings by their UTF-8 bytes, which is code point order: the same order as Python's
    ``sorted``, so the numbering is the one the earlier Python-side maps gave.  One partition holds the
    window (a few hundred thousand ids at most: fine).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from vodflow.spark import to_pandas

    ids_map = (df.select(col).distinct()
               .withColumn(out, (F.row_number().over(Window.orderBy(col)) - 1).cast("int"))
               .cache())
    pdf = to_pandas(ids_map)
    ids = pdf.sort_values(out)[col].to_numpy(dtype=str)
    return ids_map, ids
