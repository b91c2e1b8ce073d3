"""The synthetic interactions generator of the scaling benchmark: exact size, skew, determinism."""

import numpy as np
import pytest

from vodflow.recs.synthetic import COL_VALUE, synthetic_interactions


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(60_000, seed=3)


def test_exact_count_of_distinct_pairs_with_values_and_times(data):
    assert len(data) == 60_000
    assert not data.duplicated(["userID", "itemID"]).any()
    assert data[COL_VALUE].between(0.2, 1.7).all()  # WATCH_WEIGHTS: 0.2 + fraction + 0.5 * completed
    assert data["timestamp"].is_monotonic_increasing is False and data["timestamp"].min() > 1.7e9


def test_power_law_skew_of_titles_and_users(data):
    per_title = data.groupby("itemID").size().sort_values(ascending=False).to_numpy()
    top10 = per_title[: len(per_title) // 10].sum() / len(data)
    assert top10 > 0.35, top10  # a uniform catalog would give 0.10
    per_user = data.groupby("userID").size()
    assert per_user.max() > 8 * per_user.median(), per_user.describe()


def test_sessions_keep_to_the_users_genres_so_tastes_are_learnable(data):
    genre = data.attrs["item_genre"][data.itemID.to_numpy()]
    per_user = data.assign(genre=genre).groupby("userID")["genre"]
    top_share = per_user.agg(lambda g: g.value_counts(normalize=True).iloc[0])
    n_genres = len(np.unique(data.attrs["item_genre"]))
    assert top_share.mean() > 4 / n_genres, top_share.describe()  # chance: about 1 / genres


def test_deterministic_and_rejects_bad_sizes():
    a = synthetic_interactions(5_000, seed=1)
    b = synthetic_interactions(5_000, seed=1)
    assert a.equals(b)
    with pytest.raises(ValueError, match="n must be"):
        synthetic_interactions(0)
    with pytest.raises(ValueError, match="more n_users"):
        synthetic_interactions(5_000, n_users=10, n_items=10)
