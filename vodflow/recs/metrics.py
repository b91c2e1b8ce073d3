"""Ranking metrics with the exact definitions of Microsoft Recommenders' ``python_evaluation``.

Inputs are two pandas frames: ``rating_true`` (the held-out test rows; every row is
a relevant item -- binary relevance) and ``rating_pred`` (user, item, prediction
score; usually the already filtered top-k).  The definitions, as upstream:

* Only users present in *both* frames are evaluated (``n_users`` = that count).
  Predictions are ranked per user by score (descending, ties keep input order),
  truncated to ``k``; ``rank`` starts at 1.  A *hit* is a top-k item that is in
  the user's test rows; ``actual`` is the number of test rows of the user.
* ``precision_at_k`` = sum over users of ``hits / k``, divided by ``n_users``
  (so a user with fewer than k recommendations cannot reach 1).
* ``recall_at_k`` = sum over users of ``hits / actual``, divided by ``n_users``.
* ``ndcg_at_k`` (binary relevance) = mean over users of ``DCG / IDCG`` with
  ``DCG = sum over hits 1 / log(1 + rank)`` and
  ``IDCG = sum_{i=1..min(actual, k)} 1 / log(1 + i)``; the log base cancels.
  Upstream's newer ``ndcg_at_k`` averages over every user of ``rating_true``
  (users without predictions count 0) while its older one -- and Spark's
  ``RankingMetrics`` used for the published ALS row -- average over the common
  users: ``users="common"`` (default) or ``users="truth"`` picks.  The two agree
  whenever every test user gets recommendations, as in the vodflow harness.
* ``map`` ("MAP" in the benchmark table): per user the sum over hits, in rank
  order, of ``(number of hits so far) / rank``, divided by ``actual`` -- i.e.
  normalised by *all* relevant items, not by ``min(actual, k)`` -- then summed
  and divided by ``n_users``.  ``map_at_k`` divides by ``min(actual, k)`` instead.

Users with no hit contribute 0 to every metric.

Beyond accuracy (same definitions as upstream's ``catalog_coverage`` / ``novelty``):

* ``catalog_coverage`` = distinct items in the top-k lists / size of the catalog
  (the items that could be recommended).  A model that recommends the same 10
  blockbusters to everybody scores ``10 / n_items``.
* ``novelty`` = mean over the recommended (user, item) rows of the item's
  self-information ``-log2(users_i / n_users)`` in the *training* data
  (``users_i`` = users who have the item); higher = less obvious titles.
  Recommended items nobody has in train are left out (their information is infinite).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vodflow.recs.movielens import COL_ITEM, COL_PREDICTION, COL_USER

DEFAULT_K = 10


@dataclass(frozen=True)
class _Hits:
    hits: pd.DataFrame       # user, item, rank (only hit rows), sorted by user, rank
    per_user: pd.DataFrame   # user, hit, actual for users with >= 1 hit
    n_users: int             # users in both frames
    truth_users: int         # users in rating_true


def get_top_k_items(rating_pred: pd.DataFrame, k: int | None = DEFAULT_K, col_user: str = COL_USER,
                    col_prediction: str = COL_PREDICTION) -> pd.DataFrame:
    """Top ``k`` rows per user by ``col_prediction`` (descending, stable) with a 1-based ``rank``.

    ``k=None`` means the frame is already the sorted top-k: only ranks are added.
    """
    if k is None:
        top = rating_pred.reset_index(drop=True).copy()
    else:
        top = (rating_pred.sort_values([col_user, col_prediction], ascending=[True, False], kind="mergesort")
               .groupby(col_user, sort=False).head(k).reset_index(drop=True))
    top["rank"] = top.groupby(col_user, sort=False).cumcount() + 1
    return top


def _merge(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int | None, col_user: str,
           col_item: str, col_prediction: str) -> _Hits:
    for c in (col_user, col_item):
        if c not in rating_true.columns or c not in rating_pred.columns:
            raise ValueError(f"column {c!r} missing from rating_true or rating_pred")
    if col_prediction not in rating_pred.columns:
        raise ValueError(f"column {col_prediction!r} missing from rating_pred")
    if rating_true.duplicated([col_user, col_item]).any():
        raise ValueError("rating_true has duplicate (user, item) rows")
    truth = rating_true[[col_user, col_item]]
    common = np.intersect1d(truth[col_user].unique(), rating_pred[col_user].unique())
    truth_c = truth[truth[col_user].isin(common)]
    pred_c = rating_pred[rating_pred[col_user].isin(common)][[col_user, col_item, col_prediction]]
    top = get_top_k_items(pred_c, k=k, col_user=col_user, col_prediction=col_prediction)
    hits = top.merge(truth_c, on=[col_user, col_item])[[col_user, col_item, "rank"]]
    hits = hits.sort_values([col_user, "rank"], kind="mergesort").reset_index(drop=True)
    per_user = (hits.groupby(col_user).size().rename("hit").to_frame()
                .join(truth_c.groupby(col_user).size().rename("actual"), how="inner").reset_index())
    return _Hits(hits, per_user, int(len(common)), int(truth[col_user].nunique()))


def precision_at_k(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
                   col_user: str = COL_USER, col_item: str = COL_ITEM,
                   col_prediction: str = COL_PREDICTION) -> float:
    """Precision@k: mean over common users of hits/k."""
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    return 0.0 if h.hits.empty else float((h.per_user["hit"] / k).sum() / h.n_users)


def recall_at_k(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
                col_user: str = COL_USER, col_item: str = COL_ITEM,
                col_prediction: str = COL_PREDICTION) -> float:
    """Recall@k: mean over common users of hits/actual."""
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    return 0.0 if h.hits.empty else float((h.per_user["hit"] / h.per_user["actual"]).sum() / h.n_users)


def _idcg(actual: np.ndarray, k: int) -> np.ndarray:
    disc = np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))
    return disc[np.minimum(actual, k) - 1]


def ndcg_at_k(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
              col_user: str = COL_USER, col_item: str = COL_ITEM, col_prediction: str = COL_PREDICTION,
              users: str = "common") -> float:
    """nDCG@k with binary relevance (every test row relevant), natural-log discount."""
    if users not in ("common", "truth"):
        raise ValueError("users must be 'common' or 'truth'")
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    return _ndcg(h, k, users)


def _ndcg(h: _Hits, k: int, users: str = "common") -> float:
    if h.hits.empty:
        return 0.0
    dcg = (1.0 / np.log1p(h.hits["rank"].to_numpy(dtype=float)))
    dcg_user = pd.Series(dcg).groupby(h.hits.iloc[:, 0].to_numpy()).sum()
    pu = h.per_user.set_index(h.per_user.columns[0])
    ratio = dcg_user.loc[pu.index].to_numpy() / _idcg(pu["actual"].to_numpy(), k)
    denom = h.n_users if users == "common" else h.truth_users
    return float(ratio.sum() / denom)


def _rr(h: _Hits) -> pd.DataFrame:
    user_col = h.hits.columns[0]
    rr = (h.hits.groupby(user_col).cumcount() + 1) / h.hits["rank"]
    out = rr.groupby(h.hits[user_col]).sum().rename("rr").to_frame()
    return out.join(h.per_user.set_index(user_col)["actual"])


def map_score(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
              col_user: str = COL_USER, col_item: str = COL_ITEM,
              col_prediction: str = COL_PREDICTION) -> float:
    """MAP over the top-k, normalised by all relevant items (upstream ``map``)."""
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    if h.hits.empty:
        return 0.0
    r = _rr(h)
    return float((r["rr"] / r["actual"]).sum() / h.n_users)


def map_at_k(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
             col_user: str = COL_USER, col_item: str = COL_ITEM,
             col_prediction: str = COL_PREDICTION) -> float:
    """MAP@k: like :func:`map_score` but normalised by ``min(actual, k)`` (upstream ``map_at_k``)."""
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    if h.hits.empty:
        return 0.0
    r = _rr(h)
    return float((r["rr"] / np.minimum(r["actual"], k)).sum() / h.n_users)


def ranking_metrics(rating_true: pd.DataFrame, rating_pred: pd.DataFrame, k: int = DEFAULT_K,
                    col_user: str = COL_USER, col_item: str = COL_ITEM,
                    col_prediction: str = COL_PREDICTION) -> dict[str, float]:
    """The four benchmark columns (MAP, nDCG@k, Precision@k, Recall@k) from one merge."""
    h = _merge(rating_true, rating_pred, k, col_user, col_item, col_prediction)
    if h.hits.empty:
        return {"MAP": 0.0, "nDCG@k": 0.0, "Precision@k": 0.0, "Recall@k": 0.0, "users": h.n_users}
    r = _rr(h)
    return {
        "MAP": float((r["rr"] / r["actual"]).sum() / h.n_users),
        "nDCG@k": _ndcg(h, k),
        "Precision@k": float((h.per_user["hit"] / k).sum() / h.n_users),
        "Recall@k": float((h.per_user["hit"] / h.per_user["actual"]).sum() / h.n_users),
        "users": h.n_users,
    }


def topk_frame(users: np.ndarray, topk_items: np.ndarray, col_user: str = COL_USER,
               col_item: str = COL_ITEM, col_prediction: str = COL_PREDICTION) -> pd.DataFrame:
    """Turn a ``(n_users, k)`` array of item ids (``-1`` = no item) into a prediction frame.

    The prediction column is ``k - position`` so the ranking is the array order.
    """
    users = np.asarray(users)
    items = np.asarray(topk_items)
    n, k = items.shape
    df = pd.DataFrame({
        col_user: np.repeat(users, k),
        col_item: items.reshape(-1),
        col_prediction: np.tile(np.arange(k, 0, -1, dtype=float), n),
    })
    return df[df[col_item] >= 0].reset_index(drop=True)


def catalog_coverage(rating_pred: pd.DataFrame, n_catalog: int, k: int | None = DEFAULT_K,
                     col_user: str = COL_USER, col_item: str = COL_ITEM,
                     col_prediction: str = COL_PREDICTION) -> float:
    """Share of a catalog of ``n_catalog`` items that appears in at least one top-``k`` list."""
    if n_catalog < 1:
        raise ValueError("the catalog is empty: coverage needs n_catalog >= 1")
    top = get_top_k_items(rating_pred, k=k, col_user=col_user, col_prediction=col_prediction)
    return float(top[col_item].nunique() / n_catalog)


def novelty(rating_train: pd.DataFrame, rating_pred: pd.DataFrame, k: int | None = DEFAULT_K,
            col_user: str = COL_USER, col_item: str = COL_ITEM, col_prediction: str = COL_PREDICTION) -> float:
    """Mean self-information ``-log2(users_i / n_users)`` (train) of the top-``k`` recommended rows."""
    for c in (col_user, col_item):
        if c not in rating_train.columns:
            raise ValueError(f"column {c!r} missing from rating_train")
    pairs = rating_train[[col_user, col_item]].drop_duplicates()
    n_users = pairs[col_user].nunique()
    if n_users == 0:
        raise ValueError("rating_train is empty: novelty needs the training interactions")
    info = -np.log2(pairs.groupby(col_item).size() / n_users)
    top = get_top_k_items(rating_pred, k=k, col_user=col_user, col_prediction=col_prediction)
    vals = top[col_item].map(info).dropna()
    return float(vals.mean()) if len(vals) else 0.0
