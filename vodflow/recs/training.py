"""Bodies of the ``recs_training`` DAG's tasks (the DAG file stays thin).

Its assets (``gold/user_title`` in, ``gold/recommendations`` out) come from
:mod:`vodflow.analytics.assets`; its defaults (grid, holdout, top-N) from
:data:`vodflow.recs.defaults.TRAINING`.

Tasks hand each other small JSON dicts; the data itself moves through MLflow (the
training run's artifacts), so every task can run on any worker and be retried:

``train``     Spark: snapshot + holdout + search + refit + metrics; logs the MLflow run.
              A retry of an Airflow run whose MLflow run already completed reuses it.
``register``  a new registered version (the same one on a retry).
``decide``    champion check on the same holdout; moves the alias or records why not.
``challenge`` EASE^R (recency-weighted history) on the ALS run's recorded split (no Spark), its own MLflow run with the same
              Delta lineage, registered and put through the same gate after ALS
              (:mod:`vodflow.recs.challenger`); off with ``challenger=false``.
``publish``   Spark (Delta write): the champion's top-N into Delta + the serving bundle.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, Mapping

from vodflow.analytics.tables import RECOMMENDATIONS
from vodflow.analytics.tables import USER_TITLE
from vodflow.recs.defaults import TRAINING
from vodflow.settings import get_settings

log = logging.getLogger(__name__)


class NoTrainingData(RuntimeError):
    """The interactions table does not exist (yet) or has nothing to hold out: the run is skipped,
    not failed (a retry would not help; the next table update or night tries again)."""


def _opts(params: Mapping[str, Any]) -> dict[str, Any]:
    from vodflow.recs.registry import EXPERIMENT, MODEL_NAME

    s = get_settings()
    p = dict(params or {})
    return {
        "table_path": p.get("table_path") or USER_TITLE.location(s),
        "recs_table": p.get("recs_table") or RECOMMENDATIONS.location(s),
        "model_name": p.get("model_name") or MODEL_NAME,
        "experiment": p.get("experiment") or EXPERIMENT,
        "top_n": int(p.get("top_n") or TRAINING.top_n),
        "min_improvement": float(p.get("min_improvement") or TRAINING.min_improvement),
        "k": int(p.get("k") or TRAINING.k),
        "challenger": bool(TRAINING.challenger if p.get("challenger") is None else p["challenger"]),
        "ease_l2": float(p.get("ease_l2") or TRAINING.ease_l2),
        "ease_half_life": float(p.get("ease_half_life") or TRAINING.ease_recency.half_life),
        "ease_floor": float(TRAINING.ease_recency.floor if p.get("ease_floor") is None else p["ease_floor"]),
    }


def train_config(params: Mapping[str, Any]):
    from vodflow.recs.training_run import TrainConfig

    p = dict(params or {})
    o = _opts(p)
    return TrainConfig.from_dict({**p, "table_path": o["table_path"], "k": o["k"]})


def train(params: Mapping[str, Any], run_id: str, dag_id: str = "recs_training", try_number: int | None = None
          ) -> dict[str, Any]:
    from vodflow.recs import registry

    o = _opts(params)
    cfg = train_config(params)
    c = registry.client()
    done = registry.finished_run_for(c, o["experiment"], run_id)
    if done:
        log.info("recs train: MLflow run %s already completed for %s; reusing it", done, run_id)
        return _summary(c, done)
    registry.fail_unfinished_runs(c, o["experiment"], run_id)

    from vodflow.recs.als import ensure_checkpoint_dir
    from vodflow.recs.training_run import NotEnoughData, run_training
    from vodflow.spark import get_spark

    spark = get_spark("recs-training")
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, cfg.table_path):
        raise NoTrainingData(f"no Delta table at {cfg.table_path} yet (the analytics stream creates it); "
                             "nothing to train on")
    ensure_checkpoint_dir(spark)
    with tempfile.TemporaryDirectory(prefix="recs-train-") as tmp:
        try:
            result = run_training(spark, cfg, tmp)
        except NotEnoughData as e:
            raise NoTrainingData(str(e)) from e
        mlflow_run = registry.log_training(result, cfg, experiment=o["experiment"], tags={
            registry.AIRFLOW_RUN_TAG: run_id, "airflow.dag_id": dag_id, "airflow.try_number": str(try_number or 1)})
    return _summary(c, mlflow_run)


def _summary(c, mlflow_run_id: str) -> dict[str, Any]:
    r = c.get_run(mlflow_run_id)
    return {"mlflow_run_id": mlflow_run_id, "table_path": r.data.params.get("table_path"),
            "table_version": int(r.data.params["table_version"]),
            "metrics": {k: v for k, v in r.data.metrics.items() if k.startswith("holdout_")}}


def register(params: Mapping[str, Any], trained: Mapping[str, Any]) -> dict[str, Any]:
    from vodflow.recs import registry

    o = _opts(params)
    version = registry.register(registry.client(), o["model_name"], trained["mlflow_run_id"])
    return {**trained, "model_name": o["model_name"], "version": version}


def decide(params: Mapping[str, Any], registered: Mapping[str, Any]) -> dict[str, Any]:
    from vodflow.recs import registry

    o = _opts(params)
    d = registry.decide_champion(registry.client(), o["model_name"], registered["version"],
                                 registered["mlflow_run_id"], k=o["k"], min_improvement=o["min_improvement"])
    return {**registered, "decision": d.as_dict()}


def challenge(params: Mapping[str, Any], decided: Mapping[str, Any], run_id: str, dag_id: str = "recs_training",
              try_number: int | None = None) -> dict[str, Any]:
    """Train, log, register and judge the EASE^R challenger on the ALS run's split (idempotent).
    A catalog or user base too large for EASE^R's dense matrices skips the challenger (``skipped``:
    the code, ``reason``) instead of failing the run: the ALS decision stands and is published."""
    from vodflow.recs import registry

    o = _opts(params)
    if not o["challenger"]:
        return {**decided, "challenger": None}
    c = registry.client()
    comp = registry.CHALLENGER_COMPONENT
    mlflow_run = registry.finished_run_for(c, o["experiment"], run_id, comp)
    if mlflow_run is None:
        from vodflow.recs.challenger import train_challenger
        from vodflow.recs.ease import CatalogTooLarge
        from vodflow.recs.params import RecencyWeights

        registry.fail_unfinished_runs(c, o["experiment"], run_id, comp)
        als_run = decided["mlflow_run_id"]
        with tempfile.TemporaryDirectory(prefix="recs-challenger-") as tmp:
            train, hold = registry.load_split(c, als_run, tmp)
            recency = RecencyWeights(o["ease_half_life"], o["ease_floor"])
            try:
                res = train_challenger(train, hold, o["ease_l2"], o["k"], f"{tmp}/out",
                                       c.get_run(als_run).data.params, recency=recency)
            except CatalogTooLarge as e:  # e.g. 400k users x 20k titles: ALS goes on to publish alone
                log.warning("recs: challenger skipped (%s): %s", e.code, e)
                return {**decided, "challenger": {"skipped": e.code, "reason": str(e)}}
            mlflow_run = registry.log_model_run(
                f"{res.kind}-v{res.params.get('table_version')}", res.params, res.metrics, res.factors_path,
                res.eval_files, experiment=o["experiment"],
                tags={"vodflow.component": comp, registry.AIRFLOW_RUN_TAG: run_id, "airflow.dag_id": dag_id,
                      "airflow.try_number": str(try_number or 1), "vodflow.als_run_id": als_run})
    version = registry.register(c, o["model_name"], mlflow_run)
    d = registry.decide_champion(c, o["model_name"], version, mlflow_run, k=o["k"],
                                 min_improvement=o["min_improvement"])
    kind = c.get_run(mlflow_run).data.params.get("model_kind", "ease")
    return {**decided, "challenger": {"kind": kind, "mlflow_run_id": mlflow_run, "version": version,
                                      "metrics": {k: v for k, v in c.get_run(mlflow_run).data.metrics.items()
                                                  if k.startswith("holdout_")},
                                      "decision": d.as_dict()}}


def publish(params: Mapping[str, Any], decided: Mapping[str, Any]) -> dict[str, Any]:
    from vodflow.recs import registry
    from vodflow.recs.scoring import publish as publish_recs
    from vodflow.spark import get_spark

    o = _opts(params)
    spark = get_spark("recs-publish")
    return publish_recs(spark, registry.client(), o["model_name"], decided["mlflow_run_id"], o["recs_table"],
                        top_n=o["top_n"])
