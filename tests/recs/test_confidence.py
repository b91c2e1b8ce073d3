"""Confidence values for MovieLens ratings and vodflow watch history."""

import numpy as np
import pytest

from vodflow.recs.confidence import WatchWeights, rating_value, spark_confidence, watch_value


def test_rating_values():
    r = np.array([0.5, 2.5, 5.0])
    np.testing.assert_allclose(rating_value(r, "linear"), [0.1, 0.5, 1.0])
    np.testing.assert_allclose(rating_value(r, "binary"), [1, 1, 1])
    np.testing.assert_allclose(rating_value(r, "log"), np.log1p(r))
    np.testing.assert_allclose(spark_confidence(rating_value(r, "linear"), 10), [2, 6, 11])
    with pytest.raises(ValueError):
        rating_value(r, "cubic")


def test_watch_value_formula():
    w = WatchWeights(w_base=0.2, w_watch=1.0, w_complete=0.5, half_life_days=10)
    v = watch_value([1.0, 0.5, 2.0, np.nan], [True, False, True, False], [0, 10, 20, 0], w)
    np.testing.assert_allclose(v, [1.7, 0.7 * 0.5, 1.7 * 0.25, 0.2])
    no_decay = WatchWeights(half_life_days=None)
    np.testing.assert_allclose(watch_value([0.0], [False], [1000], no_decay), [0.2])
