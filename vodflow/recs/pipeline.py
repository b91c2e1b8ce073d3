"""One call for the training DAG: Delta user-title table -> Spark implicit ALS -> ``factors.npz``.

::

    from vodflow.recs.pipeline import train_and_export
    run = train_and_export(spark, settings.table_path("user_title"), out_dir / "factors.npz")
    mlflow.log_params(run.params_for_mlflow()); mlflow.log_artifact(str(run.factors_path))

The returned :class:`TrainRun` carries the Delta table version that was read, so
the run can be reproduced with ``build_training_data(..., version=run.table_version)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vodflow.recs.als import ALSParams, export_factors, train_als
from vodflow.recs.confidence import WatchWeights
from vodflow.recs.defaults import SPARK_IMPLICIT_PARAMS, WATCH_WEIGHTS
from vodflow.recs.training_data import ITEM_COL, USER_COL, VALUE_COL, build_training_data

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class TrainRun:
    factors_path: Path
    table_path: str
    table_version: int
    params: ALSParams
    weights: WatchWeights
    train_seconds: float
    lineage: dict[str, Any] = field(default_factory=dict)

    def params_for_mlflow(self) -> dict[str, Any]:
        """Flat, string-able params: ALS settings, confidence weights, table path and version."""
        return {**{f"als_{k}": v for k, v in self.params.as_dict().items()}, **self.lineage,
                "train_seconds": round(self.train_seconds, 3)}


def train_and_export(spark: "SparkSession", table_path: str, factors_path: str | Path,
                     params: ALSParams = SPARK_IMPLICIT_PARAMS, weights: WatchWeights = WATCH_WEIGHTS,
                     version: int | None = None, checkpoint_dir: str | Path | None = None) -> TrainRun:
    """Read ``table_path`` (latest or ``version``), train implicit ALS, write the numpy factor file."""
    if not params.implicit_prefs:
        raise ValueError("watch data is implicit feedback: use implicit_prefs=True")
    td = build_training_data(spark, table_path, weights, version=version)
    try:
        t0 = time.perf_counter()
        model = train_als(td.ratings, params, USER_COL, ITEM_COL, VALUE_COL, checkpoint_dir=checkpoint_dir)
        secs = time.perf_counter() - t0
        lineage = td.lineage()
        path = export_factors(model, factors_path, td.seen_pandas(), td.user_ids, td.item_ids,
                              meta={**lineage, "als": params.as_dict(), "train_seconds": secs},
                              col_user=USER_COL, col_item=ITEM_COL)
    finally:
        td.ratings.unpersist()
    return TrainRun(Path(path), table_path, td.version, params, weights, secs, lineage)
