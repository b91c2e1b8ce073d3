"""Stratified random split, identical to Microsoft Recommenders' ``python_stratified_split``.

The benchmark protocol splits MovieLens 75/25 *stratified by item* with seed 42:
every rating gets a uniform random number drawn in the frame's row order from
``numpy.random.seed(42); numpy.random.rand(n)``; within each item the ratings are
ordered by that number and the first 75% (``rank / count <= 0.75``) go to train,
the rest to test.  So an item with one rating lands wholly in test (a cold item
nobody can recommend), and every item keeps at least one test rating.

Re-implemented here with numpy/pandas so vodflow does not depend on the
``recommenders`` package; ``tests/recs/test_split.py`` checks the properties.

**Time split** (:func:`time_split`), the protocol the champion gate of the nightly DAG
uses (:mod:`vodflow.recs.holdout` applies the same rule, in Spark, to the Delta
snapshot).  A random split lets the model see a user's future; in production the model
trained tonight is judged on what people watch tomorrow.  Two forms:

* per user (default): each user with ``n >= 2`` rows holds out the newest
  ``max(1, floor(n * fraction))`` rows by time (same time: the lower item id is held
  out first; a missing time counts as the oldest); a user with one row keeps it in train.  Every
  held-out user is known to the model.  (Like Microsoft Recommenders'
  ``python_chrono_split`` by user, with the fraction taken from the newest side.)
* global cut-off (``cutoff=``): every row at or after the cut-off is held out, but only
  for users who also have a row before it (a model cannot rank for a user it has never
  seen; new users are the popularity fallback's job, not the model's).  This is the
  "train on everything up to date D, test on D onwards" of a nightly retrain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vodflow.recs.movielens import COL_ITEM, COL_TIMESTAMP, COL_USER

SEED = 42


def _ratios(ratio: float | Sequence[float]) -> list[float]:
    if isinstance(ratio, (int, float)):
        if not 0 < ratio < 1:
            raise ValueError("ratio must be in (0, 1)")
        return [float(ratio), 1.0 - float(ratio)]
    rs = [float(r) for r in ratio]
    if any(r <= 0 for r in rs):
        raise ValueError("ratios must be positive")
    total = sum(rs)
    return rs if np.isclose(total, 1.0) else [r / total for r in rs]


def stratified_split(
    data: pd.DataFrame,
    ratio: float | Sequence[float] = 0.75,
    filter_by: str = "item",
    seed: int = SEED,
    min_rating: int = 1,
    col_user: str = COL_USER,
    col_item: str = COL_ITEM,
) -> list[pd.DataFrame]:
    """Split ``data`` so that each item (or user) keeps ``ratio`` of its rows in the first part.

    Returns ``[train, test]`` for a float ratio, or one frame per ratio for a list.
    ``min_rating`` first drops items (users) with fewer rows, as upstream does.
    The input frame is not modified; the output keeps its columns and index.
    """
    if filter_by not in ("user", "item"):
        raise ValueError("filter_by should be either 'user' or 'item'")
    if min_rating < 1:
        raise ValueError("min_rating should be an integer >= 1")
    for c in (col_user, col_item):
        if c not in data.columns:
            raise ValueError(f"missing column {c!r}")
    ratios = _ratios(ratio)
    by = col_user if filter_by == "user" else col_item

    df = data
    if min_rating > 1:
        df = df.groupby(by).filter(lambda g: len(g) >= min_rating)

    rnd = np.random.RandomState(seed).rand(len(df))  # == np.random.seed(seed); np.random.rand(n)
    key = "__split_random"
    df = df.assign(**{key: rnd}).sort_values([by, key])
    groups = df.groupby(by, sort=False)
    rank = (groups.cumcount() + 1) / groups[by].transform("count")
    df = df.drop(columns=key)

    out: list[pd.DataFrame] = []
    prev = None
    for threshold in np.cumsum(ratios):
        cond = rank <= threshold
        if prev is not None:
            cond &= rank > prev
        out.append(df[cond])
        prev = threshold
    return out


def train_validation_split(
    train: pd.DataFrame,
    ratio: float = 0.75,
    seed: int = SEED + 1,
    filter_by: str = "item",
    col_user: str = COL_USER,
    col_item: str = COL_ITEM,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation split out of TRAIN only (same stratified protocol, different seed).

    Hyper-parameters are chosen on this split; the test split is never looked at
    until the final, single evaluation.
    """
    fit, valid = stratified_split(train, ratio=ratio, filter_by=filter_by, seed=seed,
                                  col_user=col_user, col_item=col_item)
    return fit, valid


def time_split(
    data: pd.DataFrame,
    fraction: float = 0.2,
    cutoff=None,
    col_user: str = COL_USER,
    col_item: str = COL_ITEM,
    col_time: str = COL_TIMESTAMP,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` by time: each user's newest ``fraction`` of rows, or (with ``cutoff``, a
    value comparable with ``col_time``) every row at/after the cut-off of users seen before it.

    The input frame is not modified; both parts keep its columns and index.
    """
    for c in (col_user, col_item, col_time):
        if c not in data.columns:
            raise ValueError(f"missing column {c!r}: the time split needs user, item and time columns")
    if cutoff is not None:
        t = data[col_time]
        late = (t >= cutoff).fillna(False).to_numpy(dtype=bool)
        known = data[col_user].isin(data.loc[~late, col_user].unique()).to_numpy()
        test = late & known
        if not test.any():
            raise ValueError(f"no row of a known user at or after the cut-off {cutoff!r}: pick an earlier date "
                             f"(times run from {t.min()!r} to {t.max()!r})")
        return data[~late], data[test]
    if not 0 < fraction < 1:
        raise ValueError(f"time split fraction must be in (0, 1), got {fraction}")
    df = data.assign(__t=data[col_time].isna()).sort_values(
        [col_user, "__t", col_time, col_item], ascending=[True, True, False, True], kind="mergesort")
    pos = df.groupby(col_user, sort=False).cumcount() + 1
    n = df.groupby(col_user, sort=False)[col_item].transform("count")
    k = np.where(n >= 2, np.maximum(1, np.floor(n * fraction)), 0)
    hold = pos.to_numpy() <= k
    df = df.drop(columns="__t")
    return df[~hold], df[hold]
