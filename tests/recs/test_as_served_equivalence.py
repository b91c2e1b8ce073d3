"""The vectorised "as served" evaluation returns what the per-user loop it replaced returned (1e-9), on a
realistic small case: synthetic skewed interactions with string ids, the DAG's temporal holdout, an
`implicit` ALS model that does not know some holdout users, and the popularity baseline (every user cold)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.recs import as_served_reference as ref
from vodflow.recs.baselines import fit_implicit_als
from vodflow.recs.factors import CHUNK, FactorModel, seen_csr
from vodflow.recs.holdout import evaluate_as_served, popularity_model, recommend_as_served, \
    temporal_holdout_pandas
from vodflow.recs.params import ImplicitLibParams
from vodflow.recs.synthetic import synthetic_interactions


@pytest.fixture(scope="module")
def case():
    df = synthetic_interactions(60_000, seed=3, n_users=1_500, n_items=1_200)
    pairs = pd.DataFrame({"user_id": [f"u{u:05d}" for u in df["userID"]], "video_id": [f"v{i:05d}" for i in df["itemID"]],
                          "last_watched": pd.to_datetime(df["timestamp"], unit="s")})
    train, hold = temporal_holdout_pandas(pairs, 0.2)
    train, hold = train[["user_id", "video_id"]].reset_index(drop=True), hold[["user_id", "video_id"]]
    # the model is trained without 5% of the holdout users (a champion of an older snapshot): they are cold
    rng = np.random.default_rng(3)
    gone = set(rng.choice(hold["user_id"].unique(), 60, replace=False).tolist())
    fit = train[~train["user_id"].isin(gone)].rename(columns={"user_id": "userID", "video_id": "itemID"})
    fm = fit_implicit_als(fit, np.ones(len(fit)), ImplicitLibParams(factors=16, iterations=5), num_threads=1)
    return fm, hold, train


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == pytest.approx(b[name], abs=1e-9), name


def test_evaluate_as_served_matches_the_loop_it_replaced(case):
    fm, hold, train = case
    assert len(fm.item_ids) > 11 * CHUNK  # the chunked top-N path runs (more than k + 1 chunks)
    new = evaluate_as_served(fm, hold, train, 10)
    _same(new, ref.evaluate_as_served(fm, hold, train, 10))
    assert new["holdout_users"] == hold["user_id"].nunique() and 0 < new["ndcg_at_10"] < 1


def test_popularity_baseline_matches_the_loop_it_replaced(case):
    _, hold, train = case
    pop = popularity_model(train)
    _same(evaluate_as_served(pop, hold, train, 10), ref.evaluate_as_served(pop, hold, train, 10))


def test_recommended_lists_are_identical(case):
    fm, hold, train = case
    users = hold["user_id"].drop_duplicates().to_numpy()
    new = recommend_as_served(fm, users, 10, exclude=train)
    old = ref.recommend_as_served(fm, users, 10, exclude=train)
    pd.testing.assert_frame_equal(new.reset_index(drop=True), old.reset_index(drop=True), check_dtype=False)


def test_users_who_have_seen_almost_everything_get_what_is_left():
    """Fewer unseen titles than k, for a known user (the whole-row fallback of the chunked top-N) and a
    cold one (the popularity candidates run out)."""
    rng = np.random.default_rng(5)
    items = np.array([f"v{i:04d}" for i in range(2_000)])
    fm = FactorModel(np.array(["a", "b"]), items, rng.normal(size=(2, 4)), rng.normal(size=(2_000, 4)),
                     *seen_csr(np.array([0]), np.array([0]), 2), rng.integers(0, 50, 2_000))
    left = {"a": ["v0007", "v1500", "v1999"], "z": ["v0003", "v0500"]}
    train = pd.DataFrame([(u, i) for u in ("a", "z") for i in items if i not in left[u]], columns=["user_id", "video_id"])
    hold = pd.DataFrame({"user_id": ["a", "z", "b"], "video_id": ["v1500", "v0500", "v0001"]})
    new = recommend_as_served(fm, ["a", "z", "b"], 10, exclude=train)
    got = new.groupby("user_id")["video_id"].apply(set).to_dict()
    assert got["a"] == set(left["a"]) and got["z"] == set(left["z"]) and len(got["b"]) == 10
    pd.testing.assert_frame_equal(new, ref.recommend_as_served(fm, ["a", "z", "b"], 10, exclude=train),
                                  check_dtype=False)
    _same(evaluate_as_served(fm, hold, train, 10), ref.evaluate_as_served(fm, hold, train, 10))


def test_recommend_as_served_rejects_repeated_users():
    fm = popularity_model(pd.DataFrame({"user_id": ["a"], "video_id": ["x"]}))
    with pytest.raises(ValueError, match="distinct"):
        recommend_as_served(fm, ["a", "a"], 5)
