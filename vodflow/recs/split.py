"""Stratified random split, identical to Microsoft Recommenders' ``python_stratified_split``.

The benchmark protocol splits MovieLens 75/25 *stratified by item* with seed 42:
every rating gets a uniform random number drawn in the frame's row order from
``numpy.random.seed(42); numpy.random.rand(n)``; within each item the ratings are
ordered by that number and the first 75% (``rank / count <= 0.75``) go to train,
the rest to test.  So an item with one rating lands wholly in test (a cold item
nobody can recommend), and every item keeps at least one test rating.

Re-implemented here with numpy/pandas so vodflow does not depend on the
``recommenders`` package; ``tests/recs/test_split.py`` checks the properties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vodflow.recs.movielens import COL_ITEM, COL_USER

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
