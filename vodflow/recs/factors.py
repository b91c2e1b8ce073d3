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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BLOCK_SCORES = 2_000_000
"""Scores per block of :func:`top_n_scores` (float32: ~8 MB)."""

CHUNK = 64
"""Columns per chunk of :func:`_top_rows`' pre-selection."""


def top_n_scores(user_vectors: np.ndarray, item_factors: np.ndarray, n: int,
                 seen_indptr: np.ndarray | None = None, seen_indices: np.ndarray | None = None,
                 user_rows: np.ndarray | None = None, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` item rows per user by dot product, excluding each user's seen items.

    ``user_vectors`` is ``(u, rank)``; ``user_rows`` gives each vector's row in the
    seen CSR (default ``0..u-1``).  Returns ``(items, scores)`` of shape ``(u, n)``
    sorted by descending score; slots beyond the available items hold ``-1`` / ``-inf``.
    Ties are broken by the lower item row.

    Blocked: one float32 BLAS product per block of users against the *negated* item factors
    (so ``argpartition`` needs no negated copy of the block), the seen titles set to ``+inf``,
    the ``n`` best per row found in a few chunks of the row (:func:`_top_rows`), and only the ``n``
    winners sorted.  A block holds about
    :data:`BLOCK_SCORES` scores (~8 MB), so memory is bounded whatever the user count.
    ``threads`` > 1 scores blocks in that many threads (BLAS and numpy's partition release the
    GIL); :meth:`FactorModel.top_n_all` then keeps BLAS itself to one thread per block.
    """
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
        top, top_neg = _top_rows(neg, n_eff)
        valid = np.isfinite(top_neg)
        out_items[start:stop, :n_eff] = np.where(valid, top, -1)
        out_scores[start:stop, :n_eff] = np.where(valid, -top_neg, -np.inf)

    starts = range(0, n_users, batch)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return out_items, out_scores


def _top_sorted(neg: np.ndarray, n: int, cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` smallest of each row of ``neg`` sorted by (value, column): ``argpartition`` then a sort of the
    winners.  ``cols`` maps ``neg``'s columns to item rows (default: the column itself)."""
    if n < neg.shape[1]:
        part = np.argpartition(neg, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(neg.shape[1]), neg.shape)
    part_neg = np.take_along_axis(neg, part, axis=1)
    items = part if cols is None else np.take_along_axis(cols, part, axis=1)
    order = np.lexsort((items, part_neg), axis=1)
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(part_neg, order, axis=1)


def _top_rows(neg: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(items, neg values)`` of the ``n`` smallest entries per row of a block, sorted (value, item).

    Partitioning every whole row cost ~14 ns per score (numpy's ``argpartition``): ~90% of an all-user
    top-N at 20k titles.  Instead the row is cut into chunks of :data:`CHUNK` columns; a chunk minimum
    (``np.minimum.reduceat``, <1 ns per score) picks the ``n`` chunks with the smallest minima, and only
    their ``n * CHUNK`` entries are partitioned.  Exact: every entry <= the n-th smallest lies in a chunk
    whose minimum is <= it, so when the n-th smallest chunk minimum is strictly below every other chunk's
    minimum the chosen chunks hold the whole answer; rows where it is not (a tie, or fewer than ``n``
    chunks with an unmasked entry) take the whole-row path.
    """
    b, n_items = neg.shape
    n_chunks = -(-n_items // CHUNK)
    if n_chunks <= n + 1 or b == 0:
        return _top_sorted(neg, n)
    cmin = np.minimum.reduceat(neg, np.arange(0, n_items, CHUNK), axis=1)  # (b, n_chunks)
    cpart = np.argpartition(cmin, n - 1, axis=1)
    chosen = cpart[:, :n]
    worst_in = np.take_along_axis(cmin, chosen, axis=1).max(axis=1)
    best_out = np.take_along_axis(cmin, cpart[:, n:], axis=1).min(axis=1)
    exact = worst_in < best_out
    cols = (chosen[:, :, None] * CHUNK + np.arange(CHUNK)).reshape(b, n * CHUNK)
    past_end = cols >= n_items  # the last chunk may be short
    cols = np.minimum(cols, n_items - 1)
    cand = np.take_along_axis(neg, cols, axis=1)
    cand[past_end] = np.inf  # never chosen: each chosen chunk has a finite entry, so there are >= n of them
    items, vals = _top_sorted(cand, n, cols)
    if not exact.all():
        slow = np.flatnonzero(~exact)
        items[slow], vals[slow] = _top_sorted(neg[slow], n)
    return items, vals


def _mask_seen(scores: np.ndarray, rows: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
               fill: float = -np.inf) -> None:
    """``scores[j, seen items of rows[j]] = fill`` for a block, in one fancy-index assignment (a Python
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
    scores[block_rows, indices[np.repeat(lo, counts) + offsets]] = fill


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

    def top_n_all(self, n: int = 10, exclude_seen: bool = True,
                  threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-N item *rows* and scores for every user row (batch scoring, evaluation), in
        ``threads`` threads (default: one per CPU core)."""
        seen = (self.seen_indptr, self.seen_indices) if exclude_seen else (None, None)
        return top_n_batch(self.user_factors, self.item_factors, n, *seen, threads=threads)


def top_n_batch(user_vectors: np.ndarray, item_factors: np.ndarray, n: int,
                seen_indptr: np.ndarray | None = None, seen_indices: np.ndarray | None = None,
                user_rows: np.ndarray | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_n_scores` for many users (batch scoring, evaluation): blocks in ``threads`` threads
    (default: one per CPU core), each block's BLAS product on one thread.

    OpenBLAS's own threads on a ``(b x rank) @ (rank x items)`` product cost ~3x the CPU (measured, 20k x
    20k) and, on a loaded machine, 5-6x the wall time (measured, 200 x 16 @ 16 x 10k, load 7 on 2 cores)."""
    from threadpoolctl import threadpool_limits

    threads = threads or os.cpu_count() or 1
    with threadpool_limits(1, user_api="blas"):
        return top_n_scores(user_vectors, item_factors, n, seen_indptr, seen_indices, user_rows, threads=threads)
