"""Serving without Spark: user/item factors in one ``.npz`` and a numpy top-N.

:func:`vodflow.recs.als.export_factors` writes the file after a Spark training
run; the API loads it once with :meth:`FactorModel.load` and answers
``top_n(user_id, n)`` in well under a millisecond per user for catalogs of this
size (one matrix-vector product and an ``argpartition``).

File layout (``np.savez``; no pickled objects, so ``allow_pickle`` stays off):

``user_ids``, ``item_ids``       external ids (int64 or unicode), row order of the factors
``user_factors``, ``item_factors`` float32 ``(n, rank)``
``seen_indptr``, ``seen_indices`` CSR over user rows: item rows each user already has
``item_popularity``               training interactions per item (cold-user fallback)
``meta``                          a JSON string (params, table version, ...)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def top_n_scores(user_vectors: np.ndarray, item_factors: np.ndarray, n: int,
                 seen_indptr: np.ndarray | None = None, seen_indices: np.ndarray | None = None,
                 user_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` item rows per user by dot product, excluding each user's seen items.

    ``user_vectors`` is ``(u, rank)``; ``user_rows`` gives each vector's row in the
    seen CSR (default ``0..u-1``).  Returns ``(items, scores)`` of shape ``(u, n)``
    sorted by descending score; slots beyond the available items hold ``-1`` / ``-inf``.
    Ties are broken by the lower item row.
    """
    uv = np.atleast_2d(np.asarray(user_vectors, dtype=np.float32))
    n_users, n_items = uv.shape[0], item_factors.shape[0]
    n_eff = max(0, min(n, n_items))
    out_items = np.full((n_users, n), -1, dtype=np.int64)
    out_scores = np.full((n_users, n), -np.inf, dtype=np.float32)
    if n_eff == 0 or n_users == 0:
        return out_items, out_scores
    rows = np.arange(n_users) if user_rows is None else np.asarray(user_rows)
    batch = max(1, int(2_000_000 // max(n_items, 1)))
    for start in range(0, n_users, batch):
        stop = min(start + batch, n_users)
        scores = uv[start:stop] @ item_factors.T  # (b, n_items) float32
        if seen_indptr is not None:
            _mask_seen(scores, rows[start:stop], seen_indptr, seen_indices)
        if n_eff < n_items:
            part = np.argpartition(-scores, n_eff - 1, axis=1)[:, :n_eff]
        else:
            part = np.tile(np.arange(n_items), (stop - start, 1))
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        top = np.take_along_axis(part, order, axis=1)
        top_scores = np.take_along_axis(part_scores, order, axis=1)
        valid = np.isfinite(top_scores)
        out_items[start:stop, :n_eff] = np.where(valid, top, -1)
        out_scores[start:stop, :n_eff] = np.where(valid, top_scores, -np.inf)
    return out_items, out_scores


def _mask_seen(scores: np.ndarray, rows: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> None:
    """``scores[j, seen items of rows[j]] = -inf`` for a block, in one fancy-index assignment (a Python
    loop over the block's users took most of the all-user top-N time at 20k users)."""
    rows = np.asarray(rows, dtype=np.int64)
    ok = (rows >= 0) & (rows < len(indptr) - 1)
    j = np.flatnonzero(ok)
    if len(j) == 0:
        return
    lo, hi = indptr[rows[j]], indptr[rows[j] + 1]
    counts = hi - lo
    if counts.sum() == 0:
        return
    block_rows = np.repeat(j, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    scores[block_rows, indices[np.repeat(lo, counts) + offsets]] = -np.inf


def seen_csr(user_rows: np.ndarray, item_rows: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, indices) of item rows per user row from parallel arrays of pairs."""
    u = np.asarray(user_rows, dtype=np.int64)
    i = np.asarray(item_rows, dtype=np.int64)
    order = np.lexsort((i, u))
    u, i = u[order], i[order]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.add.at(indptr, u + 1, 1)
    return np.cumsum(indptr), i


def _as_id_array(ids: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr.astype(str)  # fixed-width unicode: loads without pickle


@dataclass
class FactorModel:
    """Factors plus id maps, seen items and popularity, ready for numpy top-N."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    seen_indptr: np.ndarray
    seen_indices: np.ndarray
    item_popularity: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user_ids = _as_id_array(self.user_ids)
        self.item_ids = _as_id_array(self.item_ids)
        self.user_factors = np.ascontiguousarray(self.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(self.item_factors, dtype=np.float32)
        if self.user_factors.shape[0] != len(self.user_ids) or self.item_factors.shape[0] != len(self.item_ids):
            raise ValueError("factor rows and id arrays differ in length")
        self._user_row = {k: r for r, k in enumerate(self.user_ids.tolist())}
        self._item_row = {k: r for r, k in enumerate(self.item_ids.tolist())}
        self._pop_order = np.lexsort((np.arange(len(self.item_ids)), -self.item_popularity))

    # -- io ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as fh:  # np.savez on a handle keeps the exact file name
            np.savez(fh, user_ids=self.user_ids, item_ids=self.item_ids,
                     user_factors=self.user_factors, item_factors=self.item_factors,
                     seen_indptr=self.seen_indptr, seen_indices=self.seen_indices,
                     item_popularity=self.item_popularity, meta=np.array(json.dumps(self.meta, default=str)))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "FactorModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(user_ids=z["user_ids"], item_ids=z["item_ids"], user_factors=z["user_factors"],
                       item_factors=z["item_factors"], seen_indptr=z["seen_indptr"],
                       seen_indices=z["seen_indices"], item_popularity=z["item_popularity"],
                       meta=json.loads(str(z["meta"])))

    # -- serving -------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return int(self.user_factors.shape[1])

    def has_user(self, user_id: Any) -> bool:
        return user_id in self._user_row

    def user_row(self, user_id: Any) -> int | None:
        """Row of ``user_id`` in ``user_factors`` (None if unknown)."""
        return self._user_row.get(user_id)

    def top_n(self, user_id: Any, n: int = 10, exclude_seen: bool = True,
              exclude: Iterable[Any] = ()) -> list[tuple[Any, float]]:
        """``[(item_id, score), ...]`` best first.  Unknown users get the most popular items
        (score ``nan``); ``exclude`` drops further item ids (e.g. titles watched since training)."""
        extra = [self._item_row[i] for i in exclude if i in self._item_row]
        row = self._user_row.get(user_id)
        if row is None:
            return self.popular(n, exclude=exclude)
        seen = self.seen_indices[self.seen_indptr[row]:self.seen_indptr[row + 1]] if exclude_seen else []
        mask = np.unique(np.concatenate([np.asarray(seen, dtype=np.int64), np.asarray(extra, dtype=np.int64)]))
        items, scores = top_n_scores(self.user_factors[row][None, :], self.item_factors, n,
                                     np.array([0, len(mask)]), mask)
        return [(self.item_ids[i].item(), float(s)) for i, s in zip(items[0], scores[0]) if i >= 0]

    def popular(self, n: int = 10, exclude: Iterable[Any] = ()) -> list[tuple[Any, float]]:
        skip = {self._item_row[i] for i in exclude if i in self._item_row}
        out = []
        for r in self._pop_order:
            if r in skip:
                continue
            out.append((self.item_ids[r].item(), float("nan")))
            if len(out) == n:
                break
        return out

    def top_n_all(self, n: int = 10, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-N item *rows* and scores for every user row (batch scoring, evaluation)."""
        if exclude_seen:
            return top_n_scores(self.user_factors, self.item_factors, n, self.seen_indptr, self.seen_indices)
        return top_n_scores(self.user_factors, self.item_factors, n)
