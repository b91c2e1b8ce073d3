"""MLflow side of the recommender: log a training run, register it, decide the champion, point
the API at its serving bundle.

Names (defaults; the DAG takes others as params, tests use their own):

* experiment ``vodflow-recs``, registered model ``vodflow-recs``, alias ``champion``;
* each training run logs params (ALS settings, confidence weights, grid, **Delta table path
  and version**), metrics (holdout and validation, popularity baseline), artifacts
  ``factors/factors.npz``, ``eval/train.parquet``, ``eval/holdout.parquet``,
  ``eval/tuning.json`` and a ``pyfunc`` model ``model`` (:mod:`vodflow.recs.mlflow_model`);
* every registered version carries tags ``vodflow.decision`` (``promoted`` / ``kept_champion``)
  and ``vodflow.reason``; the training run gets the same tags;
* the registered model tag ``vodflow.serving_bundle`` (JSON) says which run artifact the API
  serves: ``{"run_id", "artifact_path", "model_version", "table_version", ...}``.

Every function is idempotent so an Airflow retry never registers or promotes twice.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from vodflow.recs.training_run import TrainConfig, TrainResult
    from vodflow.settings import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "vodflow-recs"
EXPERIMENT = "vodflow-recs"
CHAMPION = "champion"
SERVING_TAG = "vodflow.serving_bundle"
DECISION_TAG = "vodflow.decision"
REASON_TAG = "vodflow.reason"
AIRFLOW_RUN_TAG = "airflow.run_id"
COMPLETE_TAG = "vodflow.complete"
MODEL_URI_TAG = "vodflow.model_uri"
PROMOTED, KEPT = "promoted", "kept_champion"
MODEL_ASSET = "vodflow_recs_model"


def model_asset(settings: "Settings | None" = None, name: str = MODEL_NAME):
    """The registered model as an Airflow asset (``x-mlflow://<tracking host>/<name>``): what
    ``recs_training.train`` writes and ``publish`` reads (lineage: vodflow/analytics/assets.py)."""
    from urllib.parse import urlsplit

    from airflow.sdk import Asset

    from vodflow.settings import get_settings

    host = urlsplit((settings or get_settings()).mlflow_uri).netloc or "mlflow"
    return Asset(name=MODEL_ASSET, uri=f"x-mlflow://{host}/{name}")


def client(settings: "Settings | None" = None) -> "MlflowClient":
    import mlflow
    from mlflow import MlflowClient

    from vodflow.settings import get_settings

    s = settings or get_settings()
    mlflow.set_tracking_uri(s.mlflow_uri)
    return MlflowClient(s.mlflow_uri)


def _experiment_id(c: "MlflowClient", name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return c.create_experiment(name)
    except Exception:  # noqa: BLE001 - created concurrently
        return c.get_experiment_by_name(name).experiment_id


TRAINING_COMPONENT, CHALLENGER_COMPONENT = "recs_training", "recs_challenger"


def _component_filter(component: str) -> str:
    return f"tags.`vodflow.component` = '{component}'"


def finished_run_for(c: "MlflowClient", experiment: str, airflow_run_id: str,
                     component: str = TRAINING_COMPONENT) -> str | None:
    """The MLflow run of ``component`` a previous try of this Airflow run completed (retry idempotency)."""
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id],
                         f"tags.`{AIRFLOW_RUN_TAG}` = '{airflow_run_id}' and tags.`{COMPLETE_TAG}` = 'true' and "
                         + _component_filter(component),
                         max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0].info.run_id if runs else None


def fail_unfinished_runs(c: "MlflowClient", experiment: str, airflow_run_id: str,
                         component: str = TRAINING_COMPONENT) -> None:
    """Mark runs of ``component`` a crashed try left RUNNING as FAILED, so the experiment shows what happened."""
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return
    for r in c.search_runs([exp.experiment_id], f"tags.`{AIRFLOW_RUN_TAG}` = '{airflow_run_id}' "
                                                "and attributes.status = 'RUNNING' and "
                                                + _component_filter(component)):
        c.set_terminated(r.info.run_id, "FAILED")


def log_training(result: "TrainResult", cfg: "TrainConfig", settings: "Settings | None" = None,
                 experiment: str = EXPERIMENT, tags: dict[str, str] | None = None) -> str:
    """Log one :class:`TrainResult` as an MLflow run; returns the run id."""
    return log_model_run(
        run_name=f"als-v{result.table_version}", params=result.params_for_mlflow(cfg),
        metrics=result.metrics_for_mlflow(), factors_path=result.factors_path,
        eval_files=[result.train_path, result.holdout_path, result.out_dir / "tuning.json"],
        steps={"valid_score": [t["valid_score"] for t in result.tuning]}, settings=settings,
        experiment=experiment, tags={"vodflow.component": TRAINING_COMPONENT, **(tags or {})})


def log_model_run(run_name: str, params: dict[str, Any], metrics: dict[str, float], factors_path: Path,
                  eval_files: list[Path], steps: dict[str, list[float]] | None = None,
                  settings: "Settings | None" = None, experiment: str = EXPERIMENT,
                  tags: dict[str, str] | None = None) -> str:
    """One MLflow run of a servable model (ALS or a challenger): params (with the Delta table path
    and version), metrics, ``factors/``, ``eval/`` and the pyfunc ``model``; returns the run id."""
    import mlflow

    from vodflow.recs.mlflow_model import FactorRecommender

    c = client(settings)
    exp_id = _experiment_id(c, experiment)
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags or {})) as run:
        mlflow.log_params({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in params.items()})
        mlflow.log_metrics(metrics)
        for key, values in (steps or {}).items():
            for i, v in enumerate(values):
                mlflow.log_metric(key, v, step=i)
        mlflow.log_artifact(str(factors_path), "factors")
        for f in eval_files:
            mlflow.log_artifact(str(f), "eval")
        info = mlflow.pyfunc.log_model(name="model", python_model=FactorRecommender(),
                                       artifacts={"factors": str(factors_path)},
                                       pip_requirements=["numpy", "pandas", "mlflow"])
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
        mlflow.set_tag(COMPLETE_TAG, "true")
        return run.info.run_id


def register(c: "MlflowClient", name: str, run_id: str) -> str:
    """Register the run's model as a new version of ``name`` (the existing one on a retry)."""
    import mlflow

    try:
        found = c.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except Exception:  # noqa: BLE001 - registered model does not exist yet
        found = []
    if found:
        return str(found[0].version)
    uri = c.get_run(run_id).data.tags.get(MODEL_URI_TAG) or f"runs:/{run_id}/model"
    mv = mlflow.register_model(uri, name, tags={"vodflow.run_id": run_id})
    return str(mv.version)


def champion_version(c: "MlflowClient", name: str, alias: str = CHAMPION):
    """The version ``alias`` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download(c: "MlflowClient", run_id: str, artifact_path: str, dst: str | Path) -> Path:
    import mlflow
    import mlflow.artifacts

    Path(dst).mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                    dst_path=str(dst), tracking_uri=mlflow.get_tracking_uri()))


def load_split(c: "MlflowClient", run_id: str, dst: str | Path):
    """``(train, holdout)`` pandas frames a training run recorded."""
    import pandas as pd

    train = pd.read_parquet(download(c, run_id, "eval/train.parquet", dst))
    hold = pd.read_parquet(download(c, run_id, "eval/holdout.parquet", dst))
    return train, hold


def load_factors(c: "MlflowClient", run_id: str, dst: str | Path, artifact_path: str = "factors/factors.npz"):
    from vodflow.recs.factors import FactorModel

    return FactorModel.load(download(c, run_id, artifact_path, dst))


@dataclass(frozen=True)
class Decision:
    version: str
    promoted: bool
    reason: str
    metric: str
    new_score: float
    champion_version: str | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "promoted": self.promoted, "reason": self.reason, "metric": self.metric,
                "new_score": self.new_score, "champion_version": self.champion_version,
                "champion_score": self.champion_score, "champion_metrics": self.champion_metrics}


def decide_champion(c: "MlflowClient", name: str, version: str, run_id: str, k: int = 10,
                    min_improvement: float = 0.0, alias: str = CHAMPION) -> Decision:
    """Move ``alias`` to ``version`` only if it beats the current champion on THIS run's holdout.

    The champion is re-scored on the same holdout with the same candidates
    (:func:`vodflow.recs.holdout.evaluate_as_served`): "beats" means
    ``new > champion + min_improvement`` on nDCG@k; a tie keeps the champion (no churn).
    The outcome and the reason are written as tags on the version and on the run, and the
    champion's holdout metrics as ``champion_holdout_*`` metrics of the run.
    """
    from vodflow.recs.holdout import evaluate_as_served
    from vodflow.recs.training_run import selection_metric

    metric = selection_metric(k)
    new_score = float(c.get_run(run_id).data.metrics[f"holdout_{metric}"])
    current = champion_version(c, name, alias)
    champ_metrics = None
    champ_score = None
    if current is not None and str(current.version) == str(version):
        promoted, reason = True, f"version {version} is already the {alias} (retried task)"
        prev = c.get_model_version(name, version).tags.get(REASON_TAG)
        reason = prev or reason
    elif current is None:
        promoted, reason = True, f"no {alias} yet: version {version} ({metric}={new_score:.4f}) becomes the {alias}"
    else:
        with tempfile.TemporaryDirectory(prefix="recs-champion-") as tmp:
            train, hold = load_split(c, run_id, tmp)
            champ = load_factors(c, current.run_id, Path(tmp) / "champion")
            champ_metrics = evaluate_as_served(champ, hold, train, k)
        champ_score = float(champ_metrics[metric])
        if new_score > champ_score + min_improvement:
            promoted = True
            reason = (f"version {version} beats {alias} version {current.version} on the same holdout: "
                      f"{metric} {new_score:.4f} > {champ_score:.4f}"
                      + (f" + {min_improvement}" if min_improvement else ""))
        else:
            promoted = False
            reason = (f"kept {alias} version {current.version}: on the same holdout version {version} has "
                      f"{metric} {new_score:.4f}, not above the {alias}'s {champ_score:.4f}"
                      + (f" + min_improvement {min_improvement}" if min_improvement else ""))
        c.log_batch(run_id, metrics=_metrics(champ_metrics, "champion_holdout_"))
    if promoted and (current is None or str(current.version) != str(version)):
        c.set_registered_model_alias(name, alias, version)
    decision = PROMOTED if promoted else KEPT
    for setter, key in ((c.set_model_version_tag, (name, version)), (c.set_tag, (run_id,))):
        setter(*key, DECISION_TAG, decision)
        setter(*key, REASON_TAG, reason[:5000])
    c.set_tag(run_id, "vodflow.model_version", str(version))
    log.info("recs champion decision: %s", reason)
    return Decision(str(version), promoted, reason, metric, new_score,
                    None if current is None else str(current.version), champ_score, champ_metrics)


def _metrics(d: dict[str, float], prefix: str):
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(f"{prefix}{k}", float(v), now, 0) for k, v in d.items()]


def set_serving_bundle(c: "MlflowClient", name: str, bundle: dict[str, Any]) -> None:
    c.set_registered_model_tag(name, SERVING_TAG, json.dumps(bundle, sort_keys=True))


def get_serving_bundle(c: "MlflowClient", name: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(bundle, champion version)`` of registered model ``name`` (``(None, None)`` if it does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        rm = c.get_registered_model(name)
    except MlflowException:
        return None, None
    raw = (rm.tags or {}).get(SERVING_TAG)
    champ = (rm.aliases or {}).get(CHAMPION)
    return (json.loads(raw) if raw else None), (str(champ) if champ is not None else None)


def serve_factor_file(c: "MlflowClient", name: str, path: str | Path, experiment: str) -> str:
    """Make the factor file at ``path`` the served champion of ``name``, as the DAG's publish task leaves
    it (run artifact ``serving/factors.npz``, a model version, the champion alias, the serving-bundle tag);
    returns the version. For benchmarks and tests that serve a model they did not train through the DAG."""
    from mlflow.exceptions import MlflowException

    run = c.create_run(_experiment_id(c, experiment))
    c.log_artifact(run.info.run_id, str(path), "serving")
    c.set_terminated(run.info.run_id)
    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name)
    mv = c.create_model_version(name, f"runs:/{run.info.run_id}/serving", run_id=run.info.run_id)
    c.set_registered_model_alias(name, CHAMPION, mv.version)
    set_serving_bundle(c, name, {"run_id": run.info.run_id, "artifact_path": "serving/factors.npz",
                                 "model_version": str(mv.version), "table_version": 0})
    return str(mv.version)
