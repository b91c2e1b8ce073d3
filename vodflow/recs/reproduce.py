"""Reproduce a registered model's recorded holdout metrics from Delta time travel (issue 16, target 4).

Rules:

* The data comes from the Delta table, not from the run's artifacts: the run's ``table_path`` and
  ``table_version`` are read again with ``versionAsOf``, the confidences rebuilt with the run's
  ``conf_*`` weights, and the same temporal holdout re-derived
  (:func:`vodflow.recs.training_run.snapshot_pairs` + :func:`vodflow.recs.holdout.temporal_holdout`,
  the code the run itself used).  A challenger run carries no ``conf_*``: they come from its ALS
  run (tag ``vodflow.als_run_id``), whose split it was trained on.
* The model is the registered version's own ``factors/factors.npz``, scored by
  :func:`vodflow.recs.holdout.evaluate_as_served` on that split; every recorded ``holdout_*`` metric
  the evaluation yields must match within ``tol`` (default 1e-6, absolute).
* Result per version: the metrics, the largest difference and ``ok``; :func:`check_all` goes through
  every version of a registered model (``vodflow recs-verify``).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

TOLERANCE = 1e-6
ALS_RUN_TAG = "vodflow.als_run_id"


class NotReproducible(ValueError):
    """The run lacks what a reproduction needs (table path/version, holdout fraction, k)."""

    code = "recs_run_not_reproducible"


@dataclass(frozen=True)
class Reproduction:
    version: str
    run_id: str
    kind: str
    table_path: str
    table_version: int
    recorded: dict[str, float]
    reproduced: dict[str, float]
    max_abs_diff: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(v: str | None) -> float | None:
    return None if v in (None, "None", "null", "") else float(v)


def _weights(params: dict[str, str]):
    from vodflow.recs.confidence import WatchWeights

    conf = {k[len("conf_"):]: _num(v) for k, v in params.items() if k.startswith("conf_")}
    return WatchWeights(**conf) if conf else WatchWeights()


def run_params(c: "MlflowClient", run_id: str) -> dict[str, str]:
    """The run's params; a challenger's completed by its ALS run's (the split's origin)."""
    run = c.get_run(run_id)
    params = dict(run.data.params)
    als = run.data.tags.get(ALS_RUN_TAG)
    if als:
        params = {**c.get_run(als).data.params, **params}
    missing = [p for p in ("table_path", "table_version", "holdout_fraction", "k") if p not in params]
    if missing:
        raise NotReproducible(f"run {run_id} has no {missing} params: it was not logged by the recs_training "
                              "DAG, so its data cannot be re-read by time travel; retrain it with the DAG")
    return params


def reproduce_run(spark: "SparkSession", c: "MlflowClient", run_id: str, version: str = "",
                  tol: float = TOLERANCE) -> Reproduction:
    """Re-read the run's Delta version, re-split, re-score its factors; compare with its recorded metrics."""
    from vodflow.recs.holdout import evaluate_as_served, temporal_holdout
    from vodflow.recs.registry import load_factors
    from vodflow.recs.training_data import ITEM_COL, USER_COL, build_training_data
    from vodflow.recs.training_run import external_pairs, snapshot_pairs

    p = run_params(c, run_id)
    version_no = int(p["table_version"])
    td = build_training_data(spark, p["table_path"], _weights(p), version=version_no)
    try:
        train, hold = temporal_holdout(snapshot_pairs(spark, td), float(p["holdout_fraction"]), USER_COL, ITEM_COL)
        train_ext, hold_ext = external_pairs(td, train), external_pairs(td, hold)
    finally:
        td.unpersist()
    with tempfile.TemporaryDirectory(prefix="recs-verify-") as tmp:
        fm = load_factors(c, run_id, Path(tmp))
    got = evaluate_as_served(fm, hold_ext, train_ext, int(p["k"]))
    metrics = c.get_run(run_id).data.metrics
    recorded = {m: float(metrics[f"holdout_{m}"]) for m in got if f"holdout_{m}" in metrics}
    if not recorded:
        raise NotReproducible(f"run {run_id} recorded no holdout_* metrics to compare")
    diff = max(abs(recorded[m] - float(got[m])) for m in recorded)
    return Reproduction(str(version), run_id, str(fm.meta.get("kind", "als")), p["table_path"], version_no,
                        recorded, {m: float(got[m]) for m in recorded}, diff, diff <= tol)


def check_all(spark: "SparkSession", c: "MlflowClient", name: str, tol: float = TOLERANCE) -> list[Reproduction]:
    """:func:`reproduce_run` for every registered version of ``name`` (oldest first)."""
    versions = sorted(c.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    if not versions:
        raise NotReproducible(f"no registered model {name!r}: train one first (recs_training DAG)")
    return [reproduce_run(spark, c, v.run_id, str(v.version), tol) for v in versions]
