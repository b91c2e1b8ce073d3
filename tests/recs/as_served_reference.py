"""The "as served" evaluation as it was before it was vectorised (vodflow 6fd2400), kept as the reference the
new one is compared with (tests/recs/test_as_served_equivalence.py): a per-user Python loop, a full
``argpartition`` of every score row.  Test code only; not imported by vodflow."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vodflow.recs.factors import BLOCK_SCORES, FactorModel, _mask_seen, seen_csr
from vodflow.recs.holdout import ITEM, METRIC_NAMES, USER
from vodflow.recs.metrics import catalog_coverage, novelty, ranking_metrics


def top_n_scores_reference(user_vectors: np.ndarray, item_factors: np.ndarray, n: int,
                            seen_indptr: np.ndarray | None = None, seen_indices: np.ndarray | None = None,
                            user_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``top_n_scores`` before the chunk pre-selection: a full ``argpartition`` of every row (one thread)."""
    uv = np.atleast_2d(np.asarray(user_vectors, dtype=np.float32))
    n_users, n_items = uv.shape[0], item_factors.shape[0]
    n_eff = max(0, min(n, n_items))
    out_items = np.full((n_users, n), -1, dtype=np.int64)
    out_scores = np.full((n_users, n), -np.inf, dtype=np.float32)
    if n_eff == 0 or n_users == 0:
        return out_items, out_scores
    rows = np.arange(n_users) if user_rows is None else np.asarray(user_rows)
    neg_t = np.ascontiguousarray(-np.asarray(item_factors, dtype=np.float32).T)  # (rank, n_items)
    batch = max(1, int(BLOCK_SCORES // max(n_items, 1)))

    def block(start: int) -> None:
        stop = min(start + batch, n_users)
        neg = uv[start:stop] @ neg_t  # (b, n_items) float32: minus the scores
        if seen_indptr is not None:
            _mask_seen(neg, rows[start:stop], seen_indptr, seen_indices, np.inf)
        if n_eff < n_items:
            part = np.argpartition(neg, n_eff - 1, axis=1)[:, :n_eff]
        else:
            part = np.broadcast_to(np.arange(n_items), (stop - start, n_items))
        part_neg = np.take_along_axis(neg, part, axis=1)
        order = np.lexsort((part, part_neg), axis=1)
        top = np.take_along_axis(part, order, axis=1)
        top_scores = -np.take_along_axis(part_neg, order, axis=1)
        valid = np.isfinite(top_scores)
        out_items[start:stop, :n_eff] = np.where(valid, top, -1)
        out_scores[start:stop, :n_eff] = np.where(valid, top_scores, -np.inf)

    for start in range(0, n_users, batch):
        block(start)
    return out_items, out_scores


def _exclusion_csr(fm: FactorModel, users: np.ndarray, exclude: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """CSR over ``users`` (positions) of the model's item rows each user must not get."""
    if exclude is None or exclude.empty:
        return np.zeros(len(users) + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = pd.Series(np.arange(len(users)), index=pd.Index(users))
    item_row = pd.Series(np.arange(len(fm.item_ids)), index=pd.Index(fm.item_ids.tolist()))
    ex = exclude[exclude[USER].isin(pos.index) & exclude[ITEM].isin(item_row.index)]
    return seen_csr(pos.loc[ex[USER].to_numpy()].to_numpy(), item_row.loc[ex[ITEM].to_numpy()].to_numpy(),
                    len(users))


def recommend_as_served(fm: FactorModel, users: np.ndarray | list, k: int,
                        exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """Top-``k`` ``(user_id, video_id, prediction)`` per user, with ``exclude``'s pairs removed.

    Known users are ranked by the factors; unknown users get the model's popularity order.
    ``exclude`` replaces the model's own seen set (so a model trained on another
    snapshot is judged with the same candidates as the new one).
    """
    users = np.asarray(list(users), dtype=object)
    indptr, indices = _exclusion_csr(fm, users, exclude)
    rows = np.array([fm.user_row(u) if fm.user_row(u) is not None else -1 for u in users.tolist()], dtype=np.int64)
    known = np.nonzero(rows >= 0)[0]
    out_u: list = []
    out_i: list = []
    out_s: list = []
    if len(known):
        items, _ = top_n_scores_reference(fm.user_factors[rows[known]], fm.item_factors, k, indptr, indices, known)
        for j, pos in enumerate(known.tolist()):
            got = items[j][items[j] >= 0]
            out_u.extend([users[pos]] * len(got))
            out_i.extend(fm.item_ids[got].tolist())
            out_s.extend(range(k, k - len(got), -1))
    cold = np.nonzero(rows < 0)[0]
    if len(cold):
        order = np.lexsort((np.arange(len(fm.item_ids)), -fm.item_popularity))
        for pos in cold.tolist():
            banned = set(indices[indptr[pos]:indptr[pos + 1]].tolist())
            got = [r for r in order.tolist() if r not in banned][:k]
            out_u.extend([users[pos]] * len(got))
            out_i.extend(fm.item_ids[got].tolist())
            out_s.extend(range(k, k - len(got), -1))
    return pd.DataFrame({USER: out_u, ITEM: out_i, "prediction": np.asarray(out_s, dtype=float)})


def evaluate_as_served(fm: FactorModel, holdout: pd.DataFrame, train: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """Benchmark metrics of ``fm`` on ``holdout`` (``user_id, video_id``), candidates = all titles
    minus each user's ``train`` titles.  Returns MLflow-safe names (``ndcg_at_10``, ``map``, ...) plus
    ``coverage`` (share of the model's titles in some list) and ``novelty`` (bits, train popularity)."""
    truth = holdout[[USER, ITEM]].drop_duplicates()
    users = truth[USER].drop_duplicates().to_numpy()
    pred = recommend_as_served(fm, users, k, exclude=train[[USER, ITEM]])
    res = ranking_metrics(truth, pred, k=k, col_user=USER, col_item=ITEM, col_prediction="prediction")
    out = {METRIC_NAMES[n].format(k=k): float(v) for n, v in res.items() if n in METRIC_NAMES}
    cols = {"col_user": USER, "col_item": ITEM, "col_prediction": "prediction"}
    out["coverage"] = catalog_coverage(pred, max(1, len(fm.item_ids)), k, **cols) if len(pred) else 0.0
    out["novelty"] = novelty(train, pred, k, **cols) if len(pred) and len(train) else 0.0
    # users without any list would be dropped by the metrics: report how many were scored
    out["users"] = float(res.get("users", 0))
    out["holdout_users"] = float(len(users))
    return out
