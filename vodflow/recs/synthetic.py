"""Synthetic user-title interactions with a real service's skew, for scaling benchmarks (no Spark).

:func:`synthetic_interactions` returns exactly ``n`` distinct ``(user, title)`` rows, the shape of
the gold ``user_title`` table the nightly DAG trains on (one row per user and title, a confidence
value, the last watch time).  The model, and where each choice comes from:

* **titles**: popularity is Zipf with exponent :data:`vodflow.analytics.simulate.ZIPF_S` (the event
  simulator's), over a random order of the catalog; each title has one of ``genres`` genres.
* **users**: activity (how many sessions a user has) is a power law, Pareto with tail index
  ``user_tail`` (1.2 by default: a few heavy viewers, a long tail of people who watched one or two
  titles, as in MovieLens and published VOD logs); each user likes a few genres (a sparse Dirichlet).
* **sessions**, as the event simulator's viewers: a session belongs to one user, starts at a random
  time in the ``days`` window and watches a geometric number of titles (mean ``session_titles``) a
  few minutes to hours apart.  A session keeps to one genre from the user's taste, drawing titles by
  popularity within it; ``explore`` of the picks come from the whole catalog by popularity instead.
* **value**: the watch-history confidence input of :data:`vodflow.recs.defaults.WATCH_WEIGHTS`
  (``w_base + w_watch * fraction + w_complete * completed``; no recency decay), the watched
  fraction drawn from a Beta(0.9, 0.6) (many drop-offs early, a peak at completion); a title watched
  twice keeps its best value and its last time.

Deterministic for a given ``seed``.  Columns: :data:`vodflow.recs.movielens.COL_USER` /
``COL_ITEM`` (int32, dense ids from 0), ``value`` (float32) and ``timestamp`` (int64 seconds); ``attrs["item_genre"]`` holds each title's genre.
About 3 s and 1 GB of transient memory per 5M rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vodflow.analytics.simulate import ZIPF_S
from vodflow.recs.defaults import WATCH_WEIGHTS
from vodflow.recs.movielens import COL_ITEM, COL_USER

COL_VALUE = "value"
COL_TS = "timestamp"
START_TS = 1_767_225_600  # 2026-01-01T00:00:00Z: the window starts here (fixed, so output is reproducible)


def default_shape(n: int) -> tuple[int, int]:
    """``(users, titles)`` for ``n`` interactions: ~50 titles per user, a catalog of n/100 (500-20,000)."""
    return max(50, n // 50), int(min(20_000, max(500, n // 100)))


def _cdf(weights: np.ndarray) -> np.ndarray:
    c = np.cumsum(weights, axis=-1, dtype=np.float64)
    return c / c[..., -1:]


def synthetic_interactions(n: int, seed: int = 0, *, n_users: int | None = None, n_items: int | None = None,
                           genres: int = 24, user_tail: float = 1.2, session_titles: float = 3.0,
                           explore: float = 0.2, days: int = 180) -> pd.DataFrame:
    """Exactly ``n`` distinct (user, title) interactions; see the module doc for the model."""
    if n < 1:
        raise ValueError(f"n must be >= 1 interactions, got {n}")
    du, di = default_shape(n)
    n_users, n_items = n_users or du, n_items or di
    if n > n_users * n_items // 4:
        raise ValueError(f"{n} interactions do not fit {n_users} users x {n_items} titles at <= 25% density: "
                         "pass more n_users / n_items")
    rng = np.random.default_rng(seed)
    item_pop = 1.0 / np.arange(1, n_items + 1) ** ZIPF_S
    rng.shuffle(item_pop)
    item_genre = rng.integers(0, genres, n_items)
    by_genre = [np.flatnonzero(item_genre == g) for g in range(genres)]
    genre_cdf = [_cdf(item_pop[ix]) for ix in by_genre]
    global_cdf = _cdf(item_pop)
    user_cdf = _cdf(rng.pareto(user_tail, n_users) + 1.0)
    taste_cdf = _cdf(rng.dirichlet(np.full(genres, 0.15), n_users))

    pairs = np.zeros(0, np.int64)
    values = np.zeros(0, np.float32)
    stamps = np.zeros(0, np.int64)
    want = int(n * 1.6)
    while True:
        k, v, t = _events(rng, want, n_items, session_titles, explore, days, user_cdf, taste_cdf,
                          by_genre, genre_cdf, global_cdf)
        pairs, values, stamps = _merge(np.concatenate([pairs, k]), np.concatenate([values, v]),
                                       np.concatenate([stamps, t]))
        if len(pairs) >= n:
            break
        want = int((n - len(pairs)) * 3) + 1000  # repeats of popular pairs: draw more
    keep = np.sort(rng.choice(len(pairs), n, replace=False)) if len(pairs) > n else np.arange(n)
    pairs, values, stamps = pairs[keep], values[keep], stamps[keep]
    out = pd.DataFrame({COL_USER: (pairs // n_items).astype(np.int32), COL_ITEM: (pairs % n_items).astype(np.int32),
                        COL_VALUE: values, COL_TS: stamps})
    out.attrs["item_genre"] = item_genre  # each title's genre (index = item id), for checks
    return out


def _events(rng: np.random.Generator, want: int, n_items: int, session_titles: float, explore: float, days: int,
            user_cdf: np.ndarray, taste_cdf: np.ndarray, by_genre: list[np.ndarray], genre_cdf: list[np.ndarray],
            global_cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``want`` watch events in sessions: keys ``user * n_items + item``, values, timestamps."""
    n_sessions = max(1, int(want / session_titles))
    s_user = np.searchsorted(user_cdf, rng.random(n_sessions), side="right").astype(np.int64)
    s_user = np.minimum(s_user, len(user_cdf) - 1)
    s_genre = np.empty(n_sessions, np.int64)
    for lo in range(0, n_sessions, 1_000_000):  # per-user taste rows, chunked to bound memory
        hi = min(lo + 1_000_000, n_sessions)
        r = rng.random(hi - lo)[:, None]
        s_genre[lo:hi] = np.minimum((taste_cdf[s_user[lo:hi]] < r).sum(axis=1), taste_cdf.shape[1] - 1)
    s_len = rng.geometric(1.0 / session_titles, n_sessions)
    s_start = START_TS + rng.integers(0, days * 86_400, n_sessions)
    e_session = np.repeat(np.arange(n_sessions), s_len)
    first = np.repeat(np.cumsum(s_len) - s_len, s_len)
    e_pos = np.arange(len(e_session)) - first
    gaps = rng.integers(300, 7_200, len(e_session))  # minutes to hours between titles of a session
    e_ts = s_start[e_session] + e_pos * gaps
    e_user, e_genre = s_user[e_session], s_genre[e_session]
    e_item = np.empty(len(e_session), np.int64)
    wander = rng.random(len(e_session)) < explore
    e_item[wander] = np.searchsorted(global_cdf, rng.random(int(wander.sum())), side="right")
    for g, ix in enumerate(by_genre):
        sel = np.flatnonzero(~wander & (e_genre == g))
        if len(ix) == 0:
            e_item[sel] = np.searchsorted(global_cdf, rng.random(len(sel)), side="right")
        else:
            e_item[sel] = ix[np.minimum(np.searchsorted(genre_cdf[g], rng.random(len(sel)), side="right"),
                                        len(ix) - 1)]
    e_item = np.minimum(e_item, n_items - 1)
    w = WATCH_WEIGHTS
    frac = rng.beta(0.9, 0.6, len(e_session))
    value = (w.w_base + w.w_watch * frac + w.w_complete * (frac >= 0.9)).astype(np.float32)
    return e_user * n_items + e_item, value, e_ts.astype(np.int64)


def _merge(keys: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per key: the best value and the last time."""
    order = np.argsort(keys)
    keys, values, stamps = keys[order], values[order], stamps[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[start], np.maximum.reduceat(values, start), np.maximum.reduceat(stamps, start)
