"""Batch scoring: the champion's top-N per user into Delta and into the serving store.

After the champion decision the DAG publishes whichever version is the champion --
the new one, or the one it kept -- *with tonight's watch history*:

1. the champion's factors (its run's ``factors/factors.npz``) get the seen set and
   popularity of this run's snapshot (:func:`vodflow.recs.holdout.with_seen`), so
   titles a user watched since the champion was trained are excluded too;
2. top-N per known user with numpy (:meth:`FactorModel.top_n_all`): the seen titles
   are masked *before* the top-N is taken, so no over-fetch is needed and every user
   gets ``N`` unseen titles whenever the catalog has them.  (Spark's
   ``recommendForAllUsers`` ranks seen titles too; its path,
   :func:`vodflow.recs.als.recommend_top_k`, over-fetches and filters.  The DAG does not
   use it because the champion it publishes may come from an earlier run, of which only
   the exported factors are kept, and numpy over those factors is exact and fast at this
   catalog size.)
3. the lists overwrite the Delta table (default: the recommendations table of the lake) in one
   commit (columns: :data:`vodflow.analytics.tables.RECOMMENDATIONS`);
4. the serving file and the lists are logged to this run (``serving/factors.npz``,
   ``serving/top_n.parquet``) and the registered model tag ``vodflow.serving_bundle``
   points the API at them (the API reloads when the tag changes).

"Seen" is every title the user has in the snapshot, which includes every completed
title: a started-but-abandoned title belongs in a "continue watching" row, not in
recommendations.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vodflow.recs.defaults import TRAINING
from vodflow.recs.factors import FactorModel
from vodflow.recs.holdout import ITEM, USER, with_seen

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession



def top_n_frame(fm: FactorModel, n: int = TRAINING.top_n) -> pd.DataFrame:
    """``user_id, video_id, rank, score`` for every user of ``fm``, seen titles excluded."""
    items, scores = fm.top_n_all(n, exclude_seen=True)
    users = np.repeat(fm.user_ids, n)
    ranks = np.tile(np.arange(1, n + 1, dtype=np.int32), len(fm.user_ids))
    flat_items, flat_scores = items.reshape(-1), scores.reshape(-1)
    ok = flat_items >= 0
    return pd.DataFrame({USER: users[ok].astype(str), ITEM: fm.item_ids[flat_items[ok]].astype(str),
                         "rank": ranks[ok], "score": flat_scores[ok].astype(np.float32)})


def write_recommendations(spark: "SparkSession", recs: pd.DataFrame, table_path: str, model_name: str,
                          model_version: str, table_version: int,
                          generated_at: dt.datetime | None = None) -> int:
    """Overwrite ``table_path`` with ``recs`` in one Delta commit; returns the new table version."""
    from delta.tables import DeltaTable

    from pyspark.sql import functions as F

    ts = (generated_at or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)  # session tz is UTC
    lists = pd.DataFrame({USER: recs[USER].astype(str), ITEM: recs[ITEM].astype(str),
                          "rank": recs["rank"].astype(np.int32), "score": recs["score"].astype(np.float32)})
    key = "spark.sql.execution.arrow.pyspark.enabled"
    before = spark.conf.get(key, "false")
    spark.conf.set(key, "true")  # pandas -> Spark through Arrow: millions of rows in seconds
    try:
        df = spark.createDataFrame(lists, "user_id string, video_id string, rank int, score float")
    finally:
        spark.conf.set(key, before)
    df = df.select(USER, ITEM, "rank", "score", F.lit(model_name).alias("model_name"),
                   F.lit(str(model_version)).alias("model_version"),
                   F.lit(int(table_version)).cast("long").alias("table_version"),
                   F.lit(ts).cast("timestamp").alias("generated_at"))
    df.write.format("delta").mode("overwrite").save(table_path)
    return int(DeltaTable.forPath(spark, table_path).history(1).select("version").first()[0])


def serving_model(c: "MlflowClient", champion_run_id: str, run_id: str, tmp: str | Path,
                  meta: dict[str, Any] | None = None) -> FactorModel:
    """The champion's factors with the seen set / popularity of ``run_id``'s snapshot."""
    from vodflow.recs.registry import load_factors, load_split

    train, hold = load_split(c, run_id, tmp)
    fm = load_factors(c, champion_run_id, Path(tmp) / "champion")
    return with_seen(fm, pd.concat([train, hold], ignore_index=True), meta)


def publish(spark: "SparkSession", c: "MlflowClient", model_name: str, run_id: str, recs_table: str,
            top_n: int = TRAINING.top_n) -> dict[str, Any]:
    """Steps 1-4 of the module doc for the current champion of ``model_name``; returns what was published."""
    from vodflow.recs.registry import champion_version, set_serving_bundle

    champ = champion_version(c, model_name)
    if champ is None:
        raise RuntimeError(f"registered model {model_name!r} has no champion: nothing to publish")
    run = c.get_run(run_id)
    table_version = int(run.data.params["table_version"])
    now = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="recs-publish-") as tmp:
        fm = serving_model(c, champ.run_id, run_id, tmp,
                           {"model_name": model_name, "model_version": str(champ.version),
                            "serving_table_version": table_version, "serving_run_id": run_id})
        out = Path(tmp) / "serving"
        out.mkdir()
        fm.save(out / "factors.npz")
        recs = top_n_frame(fm, top_n)
        recs.to_parquet(out / "top_n.parquet", index=False)
        delta_version = write_recommendations(spark, recs, recs_table, model_name, str(champ.version),
                                              table_version, now)
        c.log_artifacts(run_id, str(out), "serving")
    bundle = {"run_id": run_id, "artifact_path": "serving/factors.npz", "top_n_path": "serving/top_n.parquet",
              "model_name": model_name, "model_version": str(champ.version), "table_version": table_version,
              "recs_table": recs_table, "recs_table_version": delta_version, "created_at": now.isoformat()}
    set_serving_bundle(c, model_name, bundle)
    c.set_tag(run_id, "vodflow.served_version", str(champ.version))
    return {**bundle, "users": int(recs[USER].nunique()) if len(recs) else 0, "rows": int(len(recs))}
