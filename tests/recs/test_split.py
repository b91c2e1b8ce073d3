"""Split properties: per-item ratio, seed determinism, no leakage, the upstream assignment rule."""

import numpy as np
import pandas as pd

from vodflow.recs.split import stratified_split, train_validation_split


def _ratings(n_users=60, n_items=40, density=0.3, seed=3):
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    return pd.DataFrame({"userID": u, "itemID": i, "rating": rng.integers(1, 6, len(u)).astype(float),
                         "timestamp": np.arange(len(u))})


def test_ratio_per_item_and_partition():
    df = _ratings()
    train, test = stratified_split(df, ratio=0.75, filter_by="item", seed=42)
    assert len(train) + len(test) == len(df)
    # every row lands in exactly one part, unchanged
    both = pd.concat([train, test]).sort_index()
    pd.testing.assert_frame_equal(both, df.sort_index())
    counts = df.groupby("itemID").size()
    tr = train.groupby("itemID").size().reindex(counts.index, fill_value=0)
    # upstream rule: rows with rank/count <= 0.75 go to train -> floor(0.75 * n) per item
    assert (tr == np.floor(0.75 * counts + 1e-12).astype(int)).all()
    assert (test.groupby("itemID").size() >= 1).all()  # every item keeps a test row


def test_no_leakage():
    df = _ratings()
    train, test = stratified_split(df, seed=42)
    pairs_train = set(zip(train.userID, train.itemID))
    pairs_test = set(zip(test.userID, test.itemID))
    assert not pairs_train & pairs_test
    assert not set(train.index) & set(test.index)


def test_seed_determinism_and_sensitivity():
    df = _ratings()
    a = stratified_split(df, seed=42)[1]
    b = stratified_split(df, seed=42)[1]
    c = stratified_split(df, seed=7)[1]
    pd.testing.assert_frame_equal(a, b)
    assert set(a.index) != set(c.index)


def test_assignment_rule_matches_numpy_seed_semantics():
    # the random key is np.random.seed(42); np.random.rand(n) in the input row order
    df = pd.DataFrame({"userID": [1, 2, 3, 4, 5, 6], "itemID": [9, 9, 9, 9, 8, 8], "rating": 1.0})
    np.random.seed(42)
    r = np.random.rand(len(df))
    train, test = stratified_split(df, ratio=0.75, seed=42)
    item9 = np.argsort(r[:4])  # positions of item 9 rows by random key
    assert set(test.index) == {int(item9[-1]), 4 + int(np.argmax(r[4:]))}
    assert len(train) == 4


def test_input_not_modified_and_single_rating_item_goes_to_test():
    df = pd.DataFrame({"userID": [1, 2, 3], "itemID": [5, 5, 6], "rating": [1.0, 2.0, 3.0]})
    before = df.copy()
    train, test = stratified_split(df, seed=42)
    pd.testing.assert_frame_equal(df, before)
    assert 6 in set(test.itemID) and 6 not in set(train.itemID)


def test_by_user_and_multi_ratio():
    df = _ratings()
    parts = stratified_split(df, ratio=[0.6, 0.2, 0.2], filter_by="user", seed=1)
    assert sum(len(p) for p in parts) == len(df)
    per_user = df.groupby("userID").size()
    first = parts[0].groupby("userID").size().reindex(per_user.index, fill_value=0)
    assert (first == np.floor(0.6 * per_user + 1e-12).astype(int)).all()


def test_validation_split_comes_from_train_only():
    df = _ratings()
    train, test = stratified_split(df, seed=42)
    fit, valid = train_validation_split(train)
    assert set(fit.index) | set(valid.index) == set(train.index)
    assert not (set(fit.index) | set(valid.index)) & set(test.index)
