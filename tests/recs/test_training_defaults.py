"""recs_training's defaults are set once (vodflow.recs.defaults.TRAINING): the DAG's params, the job's
help, the run config and the docs all say what that object says."""

from __future__ import annotations

import pytest

from vodflow.analytics.tables import USER_TITLE
from vodflow.recs.defaults import SPARK_IMPLICIT_PARAMS, TRAINING
from vodflow.settings import REPO_ROOT


def test_docs_state_the_grid_the_dag_trains():
    text = " ".join((REPO_ROOT / "docs" / "recommendations.md").read_text().split())
    assert TRAINING.describe() in text, (f"docs/recommendations.md must state the grid as "
                                         f"{TRAINING.describe()!r} (vodflow.recs.defaults.TRAINING)")


def test_run_config_defaults_are_the_training_defaults():
    from vodflow.recs.training_run import TrainConfig

    cfg = TrainConfig("/lake/gold/user_title")
    assert (cfg.ranks, cfg.reg_params, cfg.alphas) == (TRAINING.ranks, TRAINING.reg_params, TRAINING.alphas)
    assert (cfg.max_iter, cfg.holdout_fraction, cfg.k) == (TRAINING.max_iter, TRAINING.holdout_fraction, TRAINING.k)
    assert len(cfg.grid()) == len(TRAINING.ranks) * len(TRAINING.reg_params) * len(TRAINING.alphas)
    assert TRAINING.alphas == (SPARK_IMPLICIT_PARAMS.alpha,)  # the grid is centred on the tuned point


def test_dag_params_default_to_the_training_defaults():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "recs_training.py"))
    assert not bag.import_errors, bag.import_errors
    params = bag.dags["recs_training"].params
    assert params["ranks"] == list(TRAINING.ranks)
    assert params["reg_params"] == list(TRAINING.reg_params)
    assert params["alphas"] == list(TRAINING.alphas)
    assert (params["max_iter"], params["holdout_fraction"]) == (TRAINING.max_iter, TRAINING.holdout_fraction)
    assert (params["top_n"], params["min_improvement"]) == (TRAINING.top_n, TRAINING.min_improvement)


def test_job_help_names_the_training_defaults(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_recs_job", REPO_ROOT / "jobs" / "train_recs.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    with pytest.raises(SystemExit):
        job.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default {','.join(str(r) for r in TRAINING.ranks)})" in out
    assert f"(default {TRAINING.max_iter})" in out and f"(default {USER_TITLE.path})" in out
