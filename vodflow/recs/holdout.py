"""The holdout of the training DAG and the "as served" evaluation both models are judged by.

**Split** (:func:`temporal_holdout`): per user, the most recent
``max(1, floor(n * fraction))`` titles (by ``last_watched``, ties by title id) are
held out; users with a single title keep it in train.  This is what the model has to
do in production -- predict what a user watches *next* from what they watched
before -- and, unlike a random split, it cannot leak a user's future into train.
The hyper-parameter search carves its validation split out of train with the same
rule, so the holdout is scored once per model.  Every user of the holdout has at
least one training title, so the new model knows all of them.

**Evaluation** (:func:`evaluate_as_served`): every holdout user gets a top-``k`` list
the way the API would build it -- known users from the factors, unknown users
(e.g. new since the champion was trained) from that model's popularity -- with the
user's *current* training titles removed from the candidates.  Both the new model
and the champion are scored with this function on the same holdout and the same
candidate rule, over the same users, so their metrics compare.  Metrics are the
benchmark's (:mod:`vodflow.recs.metrics`): every held-out title is relevant; catalog
coverage and novelty are reported beside them (the gate compares nDCG@k).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vodflow.recs.defaults import TRAINING
from vodflow.recs.factors import FactorModel, seen_csr, top_n_batch
from vodflow.recs.metrics import catalog_coverage, novelty, ranking_metrics
from vodflow.recs.split import time_split

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

USER, ITEM = "user_id", "video_id"
DEFAULT_FRACTION = TRAINING.holdout_fraction

#: MLflow-safe names of the metrics (MLflow rejects '@')
METRIC_NAMES = {"nDCG@k": "ndcg_at_{k}", "MAP": "map", "Precision@k": "precision_at_{k}",
                "Recall@k": "recall_at_{k}"}


def temporal_holdout(pairs: "DataFrame", fraction: float = DEFAULT_FRACTION, user: str = "user",
                     item: str = "item", time_col: str = "last_watched") -> tuple["DataFrame", "DataFrame"]:
    """Split a Spark frame of (user, item, ..., last_watched) pairs into ``(train, holdout)``.

    Each user with ``n >= 2`` titles holds out the newest ``max(1, floor(n * fraction))``;
    a null ``last_watched`` counts as the oldest.  Deterministic for a given snapshot.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    newest_first = Window.partitionBy(user).orderBy(F.col(time_col).desc_nulls_last(), F.col(item))
    marked = (pairs.withColumn("__pos", F.row_number().over(newest_first))
              .withColumn("__n", F.count(F.lit(1)).over(Window.partitionBy(user))))
    k = F.when(F.col("__n") >= 2, F.greatest(F.lit(1), F.floor(F.col("__n") * F.lit(fraction)))).otherwise(0)
    marked = marked.withColumn("__holdout", F.col("__pos") <= k)
    cols = [c for c in pairs.columns]
    return (marked.where(~F.col("__holdout")).select(*cols), marked.where(F.col("__holdout")).select(*cols))


def temporal_holdout_pandas(pairs: pd.DataFrame, fraction: float = DEFAULT_FRACTION, user: str = USER,
                            item: str = ITEM, time_col: str = "last_watched") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same rule as :func:`temporal_holdout` on a pandas frame (:func:`vodflow.recs.split.time_split`)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    return time_split(pairs, fraction, col_user=user, col_item=item, col_time=time_col)


def _rows_of(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each of ``values`` in ``ids`` (unique), -1 where absent (one hash lookup, no Python loop)."""
    if len(ids) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    return pd.Index(ids).get_indexer(values).astype(np.int64)


def _popular_unbanned(order: np.ndarray, users: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                      k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(user position, item row, place in the list)``: per user of ``users`` (positions in the CSR) the first ``k``
    of ``order`` not among its banned item rows, in ``order``'s order.

    A user with ``c`` banned titles needs at most the first ``k + c`` of ``order``: those candidates
    for all users at once, the banned ones marked by their place among them, the first ``k`` kept.
    """
    n_items = len(order)
    users = np.asarray(users, dtype=np.int64)
    banned_n = indptr[users + 1] - indptr[users]
    span = np.minimum(banned_n + k, n_items)
    cand_start = np.cumsum(span) - span
    owner = np.repeat(np.arange(len(users)), span)
    rank = np.arange(span.sum()) - np.repeat(cand_start, span)  # position in the order
    rank_of = np.empty(n_items, dtype=np.int64)
    rank_of[order] = np.arange(n_items)
    # each banned (user, title) is candidate cand_start[user] + its rank in the order, if within the span
    b_owner = np.repeat(np.arange(len(users)), banned_n)
    offs = np.arange(banned_n.sum()) - np.repeat(np.cumsum(banned_n) - banned_n, banned_n)
    b_rank = rank_of[indices[np.repeat(indptr[users], banned_n) + offs]]
    within = b_rank < span[b_owner]
    is_banned = np.zeros(len(owner), dtype=bool)
    is_banned[cand_start[b_owner[within]] + b_rank[within]] = True
    owner, rank = owner[~is_banned], rank[~is_banned]
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    nth = np.arange(len(owner)) - np.repeat(first, np.diff(np.r_[first, len(owner)]))
    keep = nth < k
    return users[owner[keep]], order[rank[keep]], nth[keep]


def _as_served(fm: FactorModel, users: np.ndarray, k: int, ex_pos: np.ndarray,
               ex_item: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(user position, item row, place)`` of every recommended row: the lists of
    :func:`recommend_as_served` for ``users`` with the excluded pairs given as positions in ``users``
    and item rows of ``fm`` (-1 where unknown: ignored)."""
    ok = (ex_pos >= 0) & (ex_item >= 0)
    indptr, indices = seen_csr(ex_pos[ok], ex_item[ok], len(users))
    rows = _rows_of(fm.user_ids, users)
    known = np.flatnonzero(rows >= 0)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if len(known):
        items, _ = top_n_batch(fm.user_factors[rows[known]], fm.item_factors, k, indptr, indices, known)
        got = items >= 0  # a user's valid items are a prefix of its row
        parts.append((np.repeat(known, got.sum(axis=1)), items[got], np.broadcast_to(np.arange(k), items.shape)[got]))
    cold = np.flatnonzero(rows < 0)
    if len(cold):
        order = np.lexsort((np.arange(len(fm.item_ids)), -fm.item_popularity))
        parts.append(_popular_unbanned(order, cold, indptr, indices, k))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tuple(np.concatenate([p[j] for p in parts]).astype(np.int64) for j in range(3))  # type: ignore[return-value]


def _distinct(users: np.ndarray | list) -> np.ndarray:
    users = np.asarray(list(users), dtype=object)
    if not pd.Index(users).is_unique:
        raise ValueError("the users to recommend to must be distinct (one list per user)")
    return users


def recommend_as_served(fm: FactorModel, users: np.ndarray | list, k: int,
                        exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """Top-``k`` ``(user_id, video_id, prediction)`` per user, with ``exclude``'s pairs removed.

    Known users are ranked by the factors; unknown users get the model's popularity order.
    ``exclude`` replaces the model's own seen set (so a model trained on another
    snapshot is judged with the same candidates as the new one).  ``prediction`` is
    ``k - place`` in the list.  Array operations over all users (blocked scoring of
    :func:`vodflow.recs.factors.top_n_batch`); rows come known users first, then unknown ones,
    each in ``users``' order.
    """
    users = _distinct(users)
    if exclude is None or exclude.empty:
        ex_pos = ex_item = np.zeros(0, np.int64)
    else:
        ex_pos, ex_item = _rows_of(users, exclude[USER].to_numpy()), _rows_of(fm.item_ids, exclude[ITEM].to_numpy())
    pos, item, place = _as_served(fm, users, k, ex_pos, ex_item)
    return pd.DataFrame({USER: users[pos], ITEM: fm.item_ids[item].tolist(), "prediction": (k - place).astype(float)})


def _codes(known: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Integer codes of ``columns``' ids, one code space: ``known`` (unique) keep their positions, other
    ids get codes from ``len(known)`` on.  Equal ids get equal codes, so the metrics do not change."""
    out = [_rows_of(known, c) for c in columns]
    extra = [c[o < 0] for c, o in zip(columns, out)]
    if any(len(e) for e in extra):
        codes, _ = pd.factorize(np.concatenate([np.asarray(e, dtype=object) for e in extra]))
        at = 0
        for o, e in zip(out, extra):
            o[o < 0] = codes[at:at + len(e)] + len(known)
            at += len(e)
    return out


def evaluate_as_served(fm: FactorModel, holdout: pd.DataFrame, train: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """Benchmark metrics of ``fm`` on ``holdout`` (``user_id, video_id``), candidates = all titles
    minus each user's ``train`` titles.  Returns MLflow-safe names (``ndcg_at_10``, ``map``, ...) plus
    ``coverage`` (share of the model's titles in some list) and ``novelty`` (bits, train popularity).

    The lists are :func:`recommend_as_served`'s; the metrics are computed on integer codes of the ids
    (the same values: they only compare ids), which keeps their merges and group-bys cheap at 20M pairs."""
    truth = holdout[[USER, ITEM]].drop_duplicates()
    users = truth[USER].drop_duplicates().to_numpy()
    t_user, tr_user = _codes(users, truth[USER].to_numpy(), train[USER].to_numpy())
    t_item, tr_item = _codes(fm.item_ids, truth[ITEM].to_numpy(), train[ITEM].to_numpy())
    n_items = len(fm.item_ids)
    pos, item, place = _as_served(fm, users, k, np.where(tr_user < len(users), tr_user, -1),
                                  np.where(tr_item < n_items, tr_item, -1))
    pred = pd.DataFrame({USER: pos, ITEM: item, "prediction": (k - place).astype(float)})
    truth_c = pd.DataFrame({USER: t_user, ITEM: t_item})
    train_c = pd.DataFrame({USER: tr_user, ITEM: tr_item})
    res = ranking_metrics(truth_c, pred, k=k, col_user=USER, col_item=ITEM, col_prediction="prediction")
    out = {METRIC_NAMES[n].format(k=k): float(v) for n, v in res.items() if n in METRIC_NAMES}
    cols = {"col_user": USER, "col_item": ITEM, "col_prediction": "prediction"}
    out["coverage"] = catalog_coverage(pred, max(1, n_items), k, **cols) if len(pred) else 0.0
    out["novelty"] = novelty(train_c, pred, k, **cols) if len(pred) and len(train) else 0.0
    # users without any list would be dropped by the metrics: report how many were scored
    out["users"] = float(res.get("users", 0))
    out["holdout_users"] = float(len(users))
    return out


def popularity_model(pairs: pd.DataFrame) -> FactorModel:
    """A factor-less model that only knows popularity (interaction counts): the baseline every
    trained model should beat, scored with the same :func:`evaluate_as_served`."""
    counts = pairs.groupby(ITEM).size()
    items = counts.index.to_numpy()
    return FactorModel(user_ids=np.array([], dtype=str), item_ids=items.astype(str),
                       user_factors=np.zeros((0, 1), np.float32), item_factors=np.zeros((len(items), 1), np.float32),
                       seen_indptr=np.zeros(1, np.int64), seen_indices=np.zeros(0, np.int64),
                       item_popularity=counts.to_numpy().astype(np.int64), meta={"kind": "popularity"})


def with_seen(fm: FactorModel, pairs: pd.DataFrame, meta: Mapping | None = None) -> FactorModel:
    """``fm``'s factors with the seen set and popularity replaced by ``pairs`` (``user_id, video_id``).

    Pairs of users or titles the model does not know are ignored for the seen set;
    popularity counts every pair of a known title.  Used to serve a champion trained on
    an older snapshot with tonight's watch history.
    """
    user_row = pd.Series(np.arange(len(fm.user_ids)), index=pd.Index(fm.user_ids.tolist()))
    item_row = pd.Series(np.arange(len(fm.item_ids)), index=pd.Index(fm.item_ids.tolist()))
    p = pairs[[USER, ITEM]].drop_duplicates()
    p_items = p[p[ITEM].isin(item_row.index)]
    pop = np.bincount(item_row.loc[p_items[ITEM].to_numpy()].to_numpy(), minlength=len(fm.item_ids)).astype(np.int64)
    known = p_items[p_items[USER].isin(user_row.index)]
    indptr, indices = seen_csr(user_row.loc[known[USER].to_numpy()].to_numpy(),
                               item_row.loc[known[ITEM].to_numpy()].to_numpy(), len(fm.user_ids))
    return FactorModel(fm.user_ids, fm.item_ids, fm.user_factors, fm.item_factors, indptr, indices, pop,
                       {**fm.meta, **(meta or {})})
