"""The DAG's temporal holdout, the "as served" evaluation, and the training job under spark-submit."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vodflow.recs.factors import FactorModel, seen_csr
from vodflow.recs.holdout import evaluate_as_served, recommend_as_served, temporal_holdout, \
    temporal_holdout_pandas, with_seen
from vodflow.recs.training_run import TrainConfig
from vodflow.settings import REPO_ROOT

T = dt.datetime(2026, 3, 1)


def _pairs():
    rows = [("u1", f"v{i}", T - dt.timedelta(days=10 - i)) for i in range(10)]       # 10 titles -> 2 held out
    rows += [("u2", "v1", T), ("u2", "v2", T), ("u2", "v3", None)]                    # tie on time, a null
    rows += [("u3", "v5", T)]                                                         # one title: all train
    return pd.DataFrame(rows, columns=["user_id", "video_id", "last_watched"])


def test_temporal_holdout_holds_out_each_users_newest_titles():
    train, hold = temporal_holdout_pandas(_pairs(), 0.2)
    assert sorted(hold[hold.user_id == "u1"].video_id) == ["v8", "v9"]
    assert hold[hold.user_id == "u2"].video_id.tolist() == ["v1"]  # same time: lower id first; null is oldest
    assert "u3" not in set(hold.user_id) and set(train.user_id) == {"u1", "u2", "u3"}
    assert len(train) + len(hold) == len(_pairs())


def test_spark_and_pandas_splits_agree(recs_spark):
    p = _pairs()
    df = recs_spark.createDataFrame([(u, v, t.to_pydatetime() if pd.notna(t) else None)
                                     for u, v, t in p.itertuples(index=False)],
                                    "user_id string, video_id string, last_watched timestamp")
    train, hold = temporal_holdout(df, 0.2, "user_id", "video_id")
    _, hold_pd = temporal_holdout_pandas(p, 0.2)
    assert sorted(map(tuple, hold.select("user_id", "video_id").collect())) == \
        sorted(map(tuple, hold_pd[["user_id", "video_id"]].to_numpy()))
    assert train.count() + hold.count() == len(p)


def _model():
    items = np.array(["a", "b", "c", "d"])
    uf = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    itf = np.array([[1.0, 0.0], [0.9, 0.0], [0.0, 1.0], [0.0, 0.8]], np.float32)
    indptr, indices = seen_csr(np.array([0]), np.array([0]), 2)  # the model's own seen set: u1 saw a
    return FactorModel(np.array(["u1", "u2"]), items, uf, itf, indptr, indices, np.array([1, 5, 2, 3]))


def test_as_served_candidates_come_from_the_given_train_not_the_models_seen_set():
    fm = _model()
    train = pd.DataFrame({"user_id": ["u1", "u2", "u9"], "video_id": ["b", "c", "b"]})
    recs = recommend_as_served(fm, ["u1", "u2", "u9"], 2, exclude=train)
    got = recs.groupby("user_id")["video_id"].apply(list).to_dict()
    assert got == {"u1": ["a", "c"], "u2": ["d", "a"], "u9": ["d", "c"]}  # u9 unknown: popularity minus b
    hold = pd.DataFrame({"user_id": ["u1", "u2", "u9"], "video_id": ["a", "d", "a"]})
    m = evaluate_as_served(fm, hold, train, k=2)
    assert m["holdout_users"] == 3 and m["users"] == 3
    assert m["ndcg_at_2"] == pytest.approx(2 / 3)  # u1 and u2 hit at rank 1, u9 misses
    assert m["recall_at_2"] == pytest.approx(2 / 3) and m["precision_at_2"] == pytest.approx(1 / 3)


def test_with_seen_replaces_seen_set_and_popularity():
    fm = with_seen(_model(), pd.DataFrame({"user_id": ["u2", "u2", "zz", "u1"], "video_id": ["c", "x", "d", "d"]}))
    assert fm.top_n("u2", 4) == [("d", pytest.approx(0.8)), ("a", 0.0), ("b", 0.0)]
    assert [i for i, _ in fm.top_n("u1", 4)] == ["a", "b", "c"]  # a is no longer excluded, d is
    assert fm.item_popularity.tolist() == [0, 0, 1, 2]


def test_train_config_from_params():
    cfg = TrainConfig.from_dict({"table_path": "/t", "table_version": 0, "ranks": [4, 8], "reg_params": 0.5,
                                 "alphas": None, "unknown": 1})
    assert cfg.table_version == 0 and cfg.ranks == (4, 8) and cfg.reg_params == (0.5,)
    assert len(cfg.grid()) == 2 and all(p.implicit_prefs for p in cfg.grid())
    with pytest.raises(ValueError):
        TrainConfig(table_path="/t", ranks=())
    with pytest.raises(ValueError):
        TrainConfig(table_path="/t", holdout_fraction=1.0)


@pytest.mark.slow  # a JVM of its own: ~40 s on an idle 2-core machine
def test_training_job_runs_with_spark_submit(recs_spark, tmp_path):
    from vodflow.spark import spark_submit_argv

    from .recskit import watch_history, write_user_title

    table = str(tmp_path / "lake" / "gold" / "user_title")
    write_user_title(recs_spark, watch_history(n_users=40, n_items=16), table)
    env = {**os.environ, "VODFLOW_LAKE_URI": str(tmp_path / "lake"), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "VODFLOW_SPARK_SHUFFLE_PARTITIONS": "1"}  # tiny data: one task per stage
    argv = spark_submit_argv(str(REPO_ROOT / "jobs" / "train_recs.py"),
                             ["--table", "gold/user_title", "--ranks", "4", "--reg-params", "0.3", "--max-iter", "3",
                              "--out", str(tmp_path / "out")], master="local[1]")
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["table_version"] == 0 and summary["best"]["rank"] == 4
    assert summary["metrics"]["ndcg_at_10"] > 0
    assert FactorModel.load(tmp_path / "out" / "factors.npz").rank == 4
