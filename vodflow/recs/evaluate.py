"""The evaluation protocol of the Microsoft Recommenders MovieLens benchmark.

1. Split 75/25 stratified by item, seed 42 (:func:`vodflow.recs.split.stratified_split`).
2. Train on the 75%.
3. For every user of the training set, recommend the top ``k=10`` items among the
   training items the user has *not* rated in train (training items removed).
4. Every test rating is relevant (binary relevance, whatever the stars).
5. Report MAP (normalised by all relevant items), nDCG@10, Precision@10 and
   Recall@10 over the users present in both the recommendations and the test set
   (:mod:`vodflow.recs.metrics`).

Hyper-parameters are tuned on a validation split carved from the training part
(:func:`vodflow.recs.split.train_validation_split`), never on the test part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vodflow.recs.factors import FactorModel, top_n_scores
from vodflow.recs.metrics import DEFAULT_K, ranking_metrics, topk_frame
from vodflow.recs.movielens import COL_ITEM, COL_USER
from vodflow.recs.split import SEED, stratified_split


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame

    def describe(self, col_user: str = COL_USER, col_item: str = COL_ITEM) -> dict[str, int]:
        tr_users = set(self.train[col_user].unique())
        tr_items = set(self.train[col_item].unique())
        te = self.test
        return {
            "train_rows": len(self.train),
            "test_rows": len(te),
            "train_users": len(tr_users),
            "train_items": len(tr_items),
            "test_users": int(te[col_user].nunique()),
            "test_users_without_train": int((~te[col_user].drop_duplicates().isin(tr_users)).sum()),
            "test_rows_cold_item": int((~te[col_item].isin(tr_items)).sum()),
        }


def benchmark_split(ratings: pd.DataFrame, ratio: float = 0.75, seed: int = SEED) -> Split:
    """The benchmark's 75/25 split stratified by item."""
    train, test = stratified_split(ratings, ratio=ratio, filter_by="item", seed=seed)
    return Split(train, test)


def evaluate_topk(test: pd.DataFrame, users: np.ndarray, topk_items: np.ndarray, k: int = DEFAULT_K,
                  col_user: str = COL_USER, col_item: str = COL_ITEM) -> dict[str, float]:
    """Metrics of a ``(n_users, k)`` item-id array (``-1`` = empty slot)."""
    return ranking_metrics(test, topk_frame(users, topk_items, col_user, col_item), k=k,
                           col_user=col_user, col_item=col_item)


def topk_for_factor_model(fm: FactorModel, users: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """External item ids of the seen-filtered top ``k`` of each known user (``-1`` padding)."""
    rows = np.array([fm.user_row(u) for u in users.tolist()], dtype=np.int64)
    items, _ = top_n_scores(fm.user_factors[rows], fm.item_factors, k, fm.seen_indptr, fm.seen_indices, rows)
    ids = fm.item_ids
    if ids.dtype.kind not in "iu":
        raise TypeError("evaluation needs integer item ids")
    return np.where(items >= 0, ids[np.maximum(items, 0)], -1)


def evaluate_factor_model(fm: FactorModel, test: pd.DataFrame, k: int = DEFAULT_K,
                          col_user: str = COL_USER, col_item: str = COL_ITEM) -> dict[str, float]:
    """Protocol metrics of a factor model: recommend for the test users it knows."""
    users = np.array([u for u in test[col_user].unique().tolist() if fm.has_user(u)])
    return evaluate_topk(test, users, topk_for_factor_model(fm, users, k), k, col_user, col_item)
