"""recs_training end to end with dag.test(): a Delta table made here, the real MLflow server and registry.

Run 1 (a real grid) becomes the champion; run 2 (a deliberately bad model on the same table
version, so the same holdout) is registered but must not take the alias, and says why.  Both run
without the challenger; run 3 trains ALS and the EASE^R challenger and the gate picks between them.
"""

from __future__ import annotations

import uuid

import pytest

from vodflow.recs.defaults import TRAINING
from vodflow.settings import REPO_ROOT

from .recskit import watch_history, write_user_title

DAG_TEST_IDS = ("recs_training",)
pytestmark = pytest.mark.usefixtures("scheduler_paused")

MODEL = f"test-recs-{uuid.uuid4().hex[:8]}"
EXPERIMENT = "vodflow-tests-recs"


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "recs_training.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("recs_training")


@pytest.fixture(scope="module")
def history():
    return watch_history(n_users=120, n_items=40)


@pytest.fixture(scope="module")
def lake(recs_spark, tmp_path_factory, history):
    root = tmp_path_factory.mktemp("recs-lake")
    table = str(root / "gold" / "user_title")
    # version 0: all but the newest rows; version 1: everything (the appended rows matter for the holdout)
    newest = history["last_watched"] >= history["last_watched"].quantile(0.9)
    write_user_title(recs_spark, history[~newest], table)
    write_user_title(recs_spark, history[newest], table, mode="append")
    return {"table": table, "recs": str(root / "gold" / "recommendations")}


def _conf(lake, **kw):
    return {"table_path": lake["table"], "recs_table": lake["recs"], "model_name": MODEL,
            "experiment": EXPERIMENT, "max_iter": 6, "top_n": 50, "challenger": False, **kw}


@pytest.fixture(scope="module")
def mlflow_client(stack):
    from vodflow.recs import registry

    return registry.client(stack)


@pytest.fixture(scope="module")
def good_run(stack, lake):
    run = _dag().test(run_conf=_conf(lake, ranks=[8], reg_params=[0.1, 0.3], alphas=[3.0]))
    assert run.state == "success"
    return run


@pytest.fixture(scope="module")
def bad_run(stack, lake, good_run):
    # rank 1, one iteration, no confidence scaling, huge regularisation: close to popularity
    run = _dag().test(run_conf=_conf(lake, table_version=1, ranks=[1], reg_params=[50.0], alphas=[0.0],
                                     max_iter=1))
    assert run.state == "success"
    return run


def _runs(client, version: str):
    mv = client.get_model_version(MODEL, version)
    return mv, client.get_run(mv.run_id)


def test_first_run_logs_registers_and_becomes_champion(mlflow_client, good_run, lake):
    from vodflow.recs import registry

    c = mlflow_client
    champ = registry.champion_version(c, MODEL)
    assert champ is not None and champ.version == "1"
    mv, run = _runs(c, "1")
    p, m = run.data.params, run.data.metrics
    assert p["table_path"] == lake["table"] and p["table_version"] == "1"  # the pinned, latest version
    assert p["als_rank"] == "8" and p["als_reg_param"] in ("0.1", "0.3") and p["als_implicit_prefs"] == "True"
    assert p["grid_reg_params"] == "[0.1, 0.3]" and "conf_half_life_days" in p
    assert run.data.tags[registry.AIRFLOW_RUN_TAG] == good_run.run_id
    # the structure is learnable: the model must clearly beat popularity on the holdout
    assert m["holdout_ndcg_at_10"] > m["holdout_popularity_ndcg_at_10"] + 0.1, m
    assert {"holdout_map", "holdout_precision_at_10", "holdout_recall_at_10", "valid_score_best"} <= set(m)
    arts = {a.path for a in c.list_artifacts(run.info.run_id, "eval")} | \
           {a.path for a in c.list_artifacts(run.info.run_id, "factors")}
    assert {"eval/train.parquet", "eval/holdout.parquet", "eval/tuning.json", "factors/factors.npz"} <= arts
    assert mv.tags[registry.DECISION_TAG] == registry.PROMOTED and "no champion yet" in mv.tags[registry.REASON_TAG]


def test_champion_model_loads_through_pyfunc(mlflow_client, good_run, history):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    out = model.predict(pd.DataFrame({"user_id": ["u-0001", "nobody"], "n": [5, 3]}))
    assert len(out) == 8 and set(out["user_id"]) == {"u-0001", "nobody"}


def test_batch_lists_in_delta_exclude_watched_titles(recs_spark, good_run, lake, history, mlflow_client):
    from vodflow.recs import registry

    recs = recs_spark.read.format("delta").load(lake["recs"]).toPandas()
    assert set(recs["model_version"]) == {"1"} and set(recs["model_name"]) == {MODEL}
    assert set(recs["table_version"]) == {1}
    per_user = recs.groupby("user_id").size()
    n_items = history["video_id"].nunique()
    assert per_user.index.nunique() == history["user_id"].nunique()
    watched = history.groupby("user_id").size()
    # 50 each, or every title the user has not watched when fewer are left
    assert (per_user == (n_items - watched.loc[per_user.index]).clip(upper=50)).all()
    pairs = set(zip(history["user_id"], history["video_id"]))
    assert not any((u, v) in pairs for u, v in zip(recs["user_id"], recs["video_id"]))
    completed = set(zip(*history[history["completed"]][["user_id", "video_id"]].to_numpy().T))
    assert completed and not any((u, v) in completed for u, v in zip(recs["user_id"], recs["video_id"]))
    assert (recs.groupby("user_id")["rank"].apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))).all()
    bundle, champion = registry.get_serving_bundle(mlflow_client, MODEL)
    assert champion == "1" and bundle["model_version"] == "1" and bundle["artifact_path"] == "serving/factors.npz"


def test_worse_model_is_registered_but_does_not_take_the_alias(mlflow_client, bad_run, good_run):
    from vodflow.recs import registry

    c = mlflow_client
    assert registry.champion_version(c, MODEL).version == "1"
    mv, run = _runs(c, "2")
    assert run.data.params["table_version"] == "1"  # the requested version (time travel)
    assert mv.tags[registry.DECISION_TAG] == registry.KEPT
    reason = mv.tags[registry.REASON_TAG]
    assert reason.startswith("kept champion version 1") and "same holdout" in reason
    assert run.data.tags[registry.REASON_TAG] == reason
    m = run.data.metrics
    # the champion was re-scored on THIS run's holdout, and is better there
    assert m["champion_holdout_ndcg_at_10"] > m["holdout_ndcg_at_10"]
    # publish refreshed the champion's lists with this run's snapshot, still version 1
    bundle, champion = registry.get_serving_bundle(c, MODEL)
    assert champion == "1" and bundle["model_version"] == "1" and bundle["run_id"] == run.info.run_id


def test_tasks_are_idempotent_on_retry(mlflow_client, bad_run):
    from vodflow.recs import registry, training

    c = mlflow_client
    mv, run = _runs(c, "2")
    params = {"model_name": MODEL, "experiment": EXPERIMENT}
    # train: a finished MLflow run for the Airflow run is reused, not retrained
    again = training.train(params, bad_run.run_id)
    assert again["mlflow_run_id"] == run.info.run_id
    # register: the same version
    assert training.register(params, again)["version"] == "2"
    # decide: same outcome, alias untouched
    d = training.decide(params, {**again, "version": "2"})["decision"]
    assert d["promoted"] is False and registry.champion_version(c, MODEL).version == "1"
    assert len(c.search_model_versions(f"name='{MODEL}'")) == 2


def test_too_little_data_skips_instead_of_failing(recs_spark, tmp_path, history, mlflow_client):
    from airflow.utils.session import create_session

    from vodflow.recs import training

    name = f"{MODEL}-none"
    table = str(tmp_path / "one_title_each")
    write_user_title(recs_spark, history.groupby("user_id").head(1), table)  # nothing to hold out
    run = _dag().test(run_conf={"table_path": table, "recs_table": str(tmp_path / "recs"), "model_name": name,
                                "experiment": EXPERIMENT, "ranks": [2], "reg_params": [0.3], "max_iter": 1})
    assert run.state == "success"
    with create_session() as session:
        states = {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}
    assert states == {"train": "skipped", "register": "skipped", "decide": "skipped", "challenge": "skipped",
                      "publish": "skipped"}
    assert not mlflow_client.search_registered_models(f"name='{name}'")
    # no table at all: the same skip (the gold table does not exist before the analytics stream runs)
    with pytest.raises(training.NoTrainingData, match="no Delta table"):
        training.train({"table_path": str(tmp_path / "missing"), "model_name": name, "experiment": EXPERIMENT},
                        "manual__missing")


@pytest.fixture(scope="module")
def challenger_run(stack, lake, bad_run):
    run = _dag().test(run_conf=_conf(lake, table_version=1, ranks=[8], reg_params=[0.3], alphas=[3.0],
                                     challenger=True, ease_l2=20.0))
    assert run.state == "success"
    return run


def test_challenger_is_logged_with_lineage_and_judged_by_the_same_gate(mlflow_client, challenger_run, lake,
                                                                         recs_spark):
    from vodflow.recs import registry

    c = mlflow_client
    als_mv, als_run = _runs(c, "3")
    mv, run = _runs(c, "4")
    p, m = run.data.params, run.data.metrics
    # the nightly challenger is EASE^R scored on a recency-weighted history (the defaults' weights)
    assert p["model_kind"] == "ease-recency" and p["ease_l2"] == "20.0"
    assert (float(p["recency_half_life"]), float(p["recency_floor"])) == (TRAINING.ease_recency.half_life,
                                                                          TRAINING.ease_recency.floor)
    # the same Delta lineage and the same split as tonight's ALS run
    assert (p["table_path"], p["table_version"]) == (lake["table"], "1") == (als_run.data.params["table_path"],
                                                                             als_run.data.params["table_version"])
    assert run.data.tags["vodflow.als_run_id"] == als_run.info.run_id
    assert run.data.tags["vodflow.component"] == registry.CHALLENGER_COMPONENT
    arts = {a.path for d in ("eval", "factors") for a in c.list_artifacts(run.info.run_id, d)}
    assert {"eval/train.parquet", "eval/holdout.parquet", "factors/factors.npz"} <= arts
    assert {"holdout_ndcg_at_10", "holdout_map", "holdout_recall_at_10", "holdout_coverage",
            "holdout_novelty"} <= set(m)
    # the gate: the champion ALS (v1 or v3) was re-scored on this holdout; EASE^R wins only if strictly better
    champ = registry.champion_version(c, MODEL).version
    assert mv.tags[registry.DECISION_TAG] in (registry.PROMOTED, registry.KEPT)
    if mv.tags[registry.DECISION_TAG] == registry.PROMOTED:
        assert champ == "4" and m["holdout_ndcg_at_10"] > m["champion_holdout_ndcg_at_10"]
    else:
        assert champ in ("1", "3") and m["holdout_ndcg_at_10"] <= m["champion_holdout_ndcg_at_10"]
    # whatever holds the alias is what publish served
    bundle, served = registry.get_serving_bundle(c, MODEL)
    assert served == champ and bundle["model_version"] == champ
    recs = recs_spark.read.format("delta").load(lake["recs"]).toPandas()
    assert set(recs["model_version"]) == {champ}


def test_challenge_is_idempotent_on_retry(mlflow_client, challenger_run):
    from vodflow.recs import training

    c = mlflow_client
    _, als_run = _runs(c, "3")
    params = {"model_name": MODEL, "experiment": EXPERIMENT, "ease_l2": 20.0}
    out = training.challenge(params, {"mlflow_run_id": als_run.info.run_id, "version": "3"}, challenger_run.run_id)
    assert out["challenger"]["version"] == "4"
    assert len(c.search_model_versions(f"name='{MODEL}'")) == 4
