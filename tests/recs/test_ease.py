"""EASE^R: the closed form against its definition, the size guard, and that it learns planted tastes."""

import numpy as np
import pandas as pd
import pytest

from vodflow.recs import ease
from vodflow.recs.holdout import evaluate_as_served, popularity_model, temporal_holdout_pandas


def test_weights_match_the_closed_form_definition():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.4).astype(np.float32)
    lam = 5.0
    b = ease.ease_weights(x, lam)
    # B minimises ||X - XB||^2 + lam ||B||^2 s.t. diag(B) = 0: column j is the ridge regression of
    # item j on the other items
    for j in range(8):
        others = [k for k in range(8) if k != j]
        a = x[:, others].astype(np.float64)
        w = np.linalg.solve(a.T @ a + lam * np.eye(7), a.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], w, atol=1e-5)
        assert b[j, j] == 0.0


def test_refuses_large_catalogs_and_bad_l2(monkeypatch):
    monkeypatch.setattr(ease, "MAX_ITEMS", 5)
    pairs = pd.DataFrame({"user_id": ["u"] * 6, "video_id": [f"v{i}" for i in range(6)]})
    with pytest.raises(ease.CatalogTooLarge, match="at most 5 titles"):
        ease.fit_ease(pairs, 10.0)
    with pytest.raises(ValueError, match="l2 must be > 0"):
        ease.ease_weights(np.eye(3), 0.0)


def _planted(n_users=150, n_items=40, seed=1):
    rng = np.random.default_rng(seed)
    ug, ig = rng.integers(0, 4, n_users), rng.integers(0, 4, n_items)
    hit = rng.random((n_users, n_items)) < np.where(ug[:, None] == ig[None, :], 0.4, 0.02)
    u, i = np.nonzero(hit)
    return pd.DataFrame({"user_id": [f"u{x}" for x in u], "video_id": [f"v{x}" for x in i],
                         "last_watched": rng.random(len(u))})


def test_learns_planted_tastes_and_serves_as_a_factor_model(tmp_path):
    pairs = _planted()
    train, hold = temporal_holdout_pandas(pairs, 0.2)
    fm = ease.fit_ease(train, 20.0)
    got = evaluate_as_served(fm, hold, train, 10)
    pop = evaluate_as_served(popularity_model(train), hold, train, 10)
    assert got["ndcg_at_10"] > pop["ndcg_at_10"] + 0.1
    assert got["coverage"] > pop["coverage"]
    # the file round-trips and the served top-N is X B with the user's titles removed
    fm2 = type(fm).load(fm.save(tmp_path / "ease.npz"))
    user = fm2.user_ids[0]
    row = fm2.user_row(user)
    scores = fm2.user_factors[row] @ fm2.item_factors.T
    seen = set(train[train.user_id == user].video_id)
    expect = [fm2.item_ids[j] for j in np.argsort(-scores, kind="stable") if fm2.item_ids[j] not in seen][:5]
    assert [i for i, _ in fm2.top_n(user, 5)] == expect
    assert fm2.meta["kind"] == "ease"


def test_challenger_writes_the_same_split_and_the_als_lineage(tmp_path):
    from vodflow.recs.challenger import train_challenger
    from vodflow.recs.factors import FactorModel

    pairs = _planted()
    train, hold = temporal_holdout_pandas(pairs[["user_id", "video_id", "last_watched"]], 0.2)
    lineage = {"table_path": "/lake/gold/user_title", "table_version": 7, "holdout_fraction": 0.2, "k": 10,
               "als_rank": 32}
    res = train_challenger(train[["user_id", "video_id"]], hold[["user_id", "video_id"]], 20.0, 10, tmp_path,
                           lineage)
    assert res.params == {"table_path": "/lake/gold/user_title", "table_version": 7, "holdout_fraction": 0.2,
                          "k": 10, "model_kind": "ease", "ease_l2": 20.0}
    assert res.metrics["holdout_ndcg_at_10"] > 0 and 0 < res.metrics["holdout_coverage"] <= 1
    pd.testing.assert_frame_equal(pd.read_parquet(res.eval_files[1]), hold[["user_id", "video_id"]].reset_index(drop=True))
    fm = FactorModel.load(res.factors_path)
    # seen = the whole snapshot: a held-out title is never recommended back to its user
    u, v = hold.iloc[0]["user_id"], hold.iloc[0]["video_id"]
    assert v not in [i for i, _ in fm.top_n(u, 40)]
