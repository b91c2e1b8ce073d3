"""Recency weights of a user's history and the EASE^R challenger that scores with them (hand-checked)."""

import numpy as np
import pandas as pd
import pytest

from vodflow.recs.ease import fit_ease, with_recency
from vodflow.recs.params import RecencyWeights
from vodflow.recs.recency import recency_rank, recency_weights


def test_ranks_newest_first_ties_by_lower_title_and_missing_time_oldest():
    pairs = pd.DataFrame({"user_id": ["a", "a", "a", "a", "b"],
                          "video_id": ["v3", "v1", "v2", "v9", "v1"],
                          "last_watched": [10.0, 30.0, 30.0, np.nan, 5.0]})
    # a: v1 and v2 both at 30 -> v1 (lower id) is the newer; then v3 at 10; v9 has no time: oldest
    assert recency_rank(pairs, "user_id", "video_id", "last_watched").tolist() == [2, 0, 1, 3, 0]


def test_weights_halve_every_half_life_down_to_the_floor():
    pairs = pd.DataFrame({"u": [1] * 4, "i": [1, 2, 3, 4], "t": [4, 3, 2, 1]})
    w = recency_weights(pairs, RecencyWeights(half_life=1.0, floor=0.2), "u", "i", "t")
    # ranks 0..3: 0.2 + 0.8 * (1, 1/2, 1/4, 1/8)
    np.testing.assert_allclose(w, [1.0, 0.6, 0.4, 0.3], rtol=1e-6)
    assert recency_weights(pairs, RecencyWeights(half_life=2.0, floor=1.0), "u", "i", "t").tolist() == [1.0] * 4


def test_bad_settings_and_missing_time_are_named():
    with pytest.raises(ValueError, match="half_life must be > 0"):
        RecencyWeights(half_life=0, floor=0.1)
    with pytest.raises(ValueError, match="floor must be in"):
        RecencyWeights(half_life=2, floor=1.5)
    with pytest.raises(ValueError, match="'last_watched'"):
        recency_rank(pd.DataFrame({"user_id": [1], "video_id": [1]}), "user_id", "video_id", "last_watched")


def test_the_newest_title_decides_what_comes_next():
    # two tastes: {x1, x2, x3} and {y1, y2, y3} watched together; user "me" watched x1 long ago and y1
    # last.  Plain EASE^R scores both tastes alike; with recency the y-taste wins.
    rows = []
    for n in range(6):
        rows += [(f"x{n}", "x1", 1), (f"x{n}", "x2", 2), (f"x{n}", "x3", 3)]
        rows += [(f"y{n}", "y1", 1), (f"y{n}", "y2", 2), (f"y{n}", "y3", 3)]
    rows += [("me", "x1", 1), ("me", "y1", 9)]
    pairs = pd.DataFrame(rows, columns=["user_id", "video_id", "last_watched"])
    plain = fit_ease(pairs, 1.0)
    s = dict(plain.top_n("me", 4))
    assert s["x2"] == pytest.approx(s["y2"]) and s["x3"] == pytest.approx(s["y3"])
    rec = fit_ease(pairs, 1.0, recency=RecencyWeights(half_life=1.0, floor=0.1))
    top = [i for i, _ in rec.top_n("me", 4)]
    assert set(top[:2]) == {"y2", "y3"} and set(top[2:]) == {"x2", "x3"}
    # the scores are w_u B: y1 weighs 1, x1 weighs 0.1 + 0.9 * 0.5 = 0.55, B is the plain fit's
    row = rec.user_row("me")
    w = rec.user_factors[row]
    assert w[list(rec.item_ids).index("y1")] == pytest.approx(1.0)
    assert w[list(rec.item_ids).index("x1")] == pytest.approx(0.55)
    np.testing.assert_array_equal(rec.item_factors, plain.item_factors)
    assert rec.meta["kind"] == "ease-recency" and rec.meta["recency_half_life"] == 1.0
    # with_recency on the plain fit is the same model
    again = with_recency(plain, pairs, RecencyWeights(half_life=1.0, floor=0.1))
    np.testing.assert_array_equal(again.user_factors, rec.user_factors)
