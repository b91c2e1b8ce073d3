"""EASE^R: the closed-form item-item challenger of Spark ALS (pure numpy).

Rules (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019,
arXiv:1905.03375, eq. 8):

* ``X`` is the binary user x item matrix of the training pairs (1 = the user has the
  title; how much was watched does not enter -- EASE^R is defined on 0/1 data).
* ``G = X^T X + lambda I``, ``P = G^-1``, ``B = I - P diag(1/diag(P))``: so
  ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_jj = 0`` (an item may not predict
  itself).  ``lambda`` (:data:`vodflow.recs.defaults.EASE_L2`) is the only
  hyper-parameter.
* A user's scores are ``x_u B``; top-N excludes the titles the user has.
* With recency (:func:`with_recency`, the nightly challenger's form): the scores are ``w_u B``,
  ``w_u`` the user's history weighted newest first (:mod:`vodflow.recs.recency`); ``B`` is
  the same (fitted on the 0/1 ``X``), only the history that is multiplied by it changes.

Cost: one dense ``n_items x n_items`` inverse -- O(n_items^3) time and two float64
matrices of that size (20k items: 3.2 GB each, about a minute of LAPACK).  Above
:data:`MAX_ITEMS` the fit refuses with :class:`CatalogTooLarge` instead of swapping.

Serving: the model is written as a :class:`~vodflow.recs.factors.FactorModel` with
``user_factors = X`` (dense 0/1 rows) and ``item_factors = B^T``, so
``user_factors @ item_factors.T = X B`` and the API, the champion gate and the batch
publisher use it unchanged.  The dense ``X`` costs ``n_users x n_items x 4`` bytes;
above :data:`MAX_DENSE_CELLS` the export refuses (a sparse serving path is left to do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from vodflow.recs.factors import FactorModel, seen_csr
from vodflow.recs.params import RecencyWeights
from vodflow.recs.recency import recency_weights

USER, ITEM, TIME = "user_id", "video_id", "last_watched"

#: largest catalog the dense inverse is attempted for
MAX_ITEMS = 20_000
#: largest users x items served as a dense factor file (1e9 cells = 4 GB float32)
MAX_DENSE_CELLS = 1_000_000_000


class CatalogTooLarge(ValueError):
    """The catalog is too large for a dense EASE^R fit or export on one machine."""

    code = "ease_catalog_too_large"


def ease_weights(x, l2: float) -> np.ndarray:
    """``B`` (float32, ``n_items x n_items``, zero diagonal) of EASE^R for the 0/1 matrix ``x``
    (numpy or scipy sparse, users x items)."""
    n_items = int(x.shape[1])
    if n_items > MAX_ITEMS:
        raise CatalogTooLarge(f"EASE^R needs a dense {n_items} x {n_items} inverse; this machine allows at most "
                              f"{MAX_ITEMS} titles (vodflow.recs.ease.MAX_ITEMS): use the ALS champion for this "
                              "catalog or prune titles nobody watches")
    if not l2 > 0:
        raise ValueError(f"EASE^R l2 must be > 0 (it keeps X^T X invertible), got {l2}")
    g = x.T @ x
    g = np.asarray(g.toarray() if hasattr(g, "toarray") else g, dtype=np.float64)
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


def _index(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def fit_ease(pairs: pd.DataFrame, l2: float, meta: Mapping[str, Any] | None = None,
             user: str = USER, item: str = ITEM, recency: RecencyWeights | None = None,
             time: str = TIME) -> FactorModel:
    """EASE^R on ``pairs`` (``user, item`` rows) as a servable :class:`FactorModel`.

    Seen set = the pairs; popularity = users per title (the cold-user fallback).  With
    ``recency`` the served history is weighted newest first (:func:`with_recency`; needs ``time``).
    """
    if pairs.empty:
        raise ValueError("EASE^R needs at least one (user, title) pair to train on")
    p = pairs[[user, item]].drop_duplicates()
    u, user_ids = _index(p[user])
    i, item_ids = _index(p[item])
    n_users, n_items = len(user_ids), len(item_ids)
    if n_items > MAX_ITEMS:
        ease_weights(np.zeros((0, n_items), np.float32), l2)  # raises CatalogTooLarge with the reason
    if n_users * n_items > MAX_DENSE_CELLS:
        raise CatalogTooLarge(f"serving EASE^R as factors needs a dense {n_users} x {n_items} matrix "
                              f"(> {MAX_DENSE_CELLS} cells, vodflow.recs.ease.MAX_DENSE_CELLS): keep the ALS "
                              "champion for this size")
    x = np.zeros((n_users, n_items), dtype=np.float32)
    x[u, i] = 1.0
    b = ease_weights(x, l2)
    indptr, indices = seen_csr(u, i, n_users)
    fm = FactorModel(user_ids=user_ids, item_ids=item_ids, user_factors=x, item_factors=b.T,
                     seen_indptr=indptr, seen_indices=indices,
                     item_popularity=np.bincount(i, minlength=n_items).astype(np.int64),
                     meta={"kind": "ease", "ease_l2": float(l2), **(meta or {})})
    return fm if recency is None else with_recency(fm, pairs, recency, user, item, time)


def with_recency(fm: FactorModel, pairs: pd.DataFrame, recency: RecencyWeights, user: str = USER,
                 item: str = ITEM, time: str = TIME) -> FactorModel:
    """``fm`` (a fitted EASE^R) with each user's row of ``X`` replaced by the recency-weighted history
    of ``pairs`` (``user, item, time``; a pair seen twice keeps its newest time).  ``B``, the ids, the
    seen set and the popularity stay; pairs of users or titles ``fm`` does not know are ignored."""
    p = pairs.groupby([user, item], sort=False, as_index=False)[time].max()
    p = p[p[user].isin(fm.user_ids.tolist()) & p[item].isin(fm.item_ids.tolist())]
    urow = pd.Series(np.arange(len(fm.user_ids)), index=pd.Index(fm.user_ids.tolist()))
    irow = pd.Series(np.arange(len(fm.item_ids)), index=pd.Index(fm.item_ids.tolist()))
    w = np.zeros_like(fm.user_factors)
    w[urow.loc[p[user].to_numpy()].to_numpy(), irow.loc[p[item].to_numpy()].to_numpy()] = \
        recency_weights(p, recency, user, item, time)
    meta = {**fm.meta, "kind": "ease-recency", "recency_half_life": recency.half_life,
            "recency_floor": recency.floor}
    return FactorModel(fm.user_ids, fm.item_ids, w, fm.item_factors, fm.seen_indptr, fm.seen_indices,
                       fm.item_popularity, meta)
