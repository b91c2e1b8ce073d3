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
from vodflow.recs.factors import FactorModel, seen_csr, top_n_scores
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
        items, _ = top_n_scores(fm.user_factors[rows[known]], fm.item_factors, k, indptr, indices, known)
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
