"""Time split (per user and global cut-off) and the beyond-accuracy metrics, by hand on tiny frames."""

import math

import numpy as np
import pandas as pd
import pytest

from vodflow.recs.metrics import catalog_coverage, novelty
from vodflow.recs.split import time_split


def _ratings():
    rows = [(1, i, 100 + i) for i in range(10)]          # user 1: 10 rows, times 100..109
    rows += [(2, 5, 50), (2, 6, 50), (2, 7, np.nan)]      # user 2: tie on time, a missing time
    rows += [(3, 4, 200)]                                 # user 3: a single row
    return pd.DataFrame(rows, columns=["userID", "itemID", "timestamp"])


def test_per_user_holds_out_newest_fraction():
    df = _ratings()
    train, test = time_split(df, 0.2)
    assert sorted(test[test.userID == 1].itemID) == [8, 9]          # floor(10 * 0.2) newest
    assert test[test.userID == 2].itemID.tolist() == [5]            # same time: lower id first; NaN oldest
    assert 3 not in set(test.userID) and 3 in set(train.userID)     # one row stays in train
    assert len(train) + len(test) == len(df) and not set(train.index) & set(test.index)
    # nothing a user holds out is older than what the user trains on
    last_train = train.groupby("userID").timestamp.max()
    first_test = test.groupby("userID").timestamp.min()
    assert (first_test >= last_train.loc[first_test.index]).all()


def test_global_cutoff_keeps_only_known_users_in_test():
    df = _ratings()
    train, test = time_split(df, cutoff=108)
    assert sorted(test.itemID) == [8, 9]               # user 3's row at 200 is new: not in test, not in train
    assert 3 not in set(train.userID) and 3 not in set(test.userID)
    assert (train.timestamp.dropna() < 108).all()
    with pytest.raises(ValueError, match="pick an earlier date"):
        time_split(df, cutoff=1000)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="fraction must be in"):
        time_split(_ratings(), 1.0)
    with pytest.raises(ValueError, match="missing column 'timestamp'"):
        time_split(_ratings().drop(columns="timestamp"))


def test_coverage_and_novelty_by_hand():
    train = pd.DataFrame({"userID": [1, 2, 3, 4, 1], "itemID": [10, 10, 10, 10, 20]})
    pred = pd.DataFrame({"userID": [1, 1, 2, 2], "itemID": [10, 20, 10, 30], "prediction": [2.0, 1.0, 2.0, 1.0]})
    assert catalog_coverage(pred, n_catalog=6, k=2) == pytest.approx(3 / 6)
    assert catalog_coverage(pred, n_catalog=6, k=1) == pytest.approx(1 / 6)
    # item 10: 4 of 4 users -> 0 bits; item 20: 1 of 4 -> 2 bits; item 30 unknown in train -> left out
    assert novelty(train, pred, k=2) == pytest.approx((0 + 2 + 0) / 3)
    assert novelty(train, pred, k=1) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="catalog is empty"):
        catalog_coverage(pred, 0)
    assert math.isfinite(novelty(train, pred.assign(itemID=30)))
