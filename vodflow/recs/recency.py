"""Recency weights of a user's history: the newest titles count most when an item-item model scores.

Rules (the EASE^R challenger's scoring, :func:`vodflow.recs.ease.with_recency`):

* In a time split the next titles a user watches follow the *last* ones: MovieLens users rate in
  sessions, a viewer binges a series.  So a user's score vector is ``w_u B`` instead of ``x_u B``,
  where ``w_u`` holds a weight per title of the history instead of a 1.
* Rank, not age: per user, titles ordered newest first by their time (``r = 0, 1, ...``); the same
  time ranks the lower title id as newer (the order :func:`vodflow.recs.split.time_split` holds
  titles out in); a missing time is the oldest.  Ranks rather than days, because how fast a
  user's taste moves on is counted in titles watched, not in calendar time (a user who returns
  after a year resumes where they stopped) -- on ml-latest-small the rank decay beat the age
  decay at every scale tried on the validation cut (docs/benchmarks-recs.md).
* ``w = floor + (1 - floor) * 0.5 ** (r / half_life)`` (:class:`~vodflow.recs.params.RecencyWeights`):
  the newest title weighs 1, every title keeps at least ``floor`` (the whole history still says
  what the user likes).

Pure pandas/numpy; the weights are a function of the snapshot only (no wall clock).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vodflow.recs.params import RecencyWeights


def recency_rank(pairs: pd.DataFrame, user: str, item: str, time: str) -> np.ndarray:
    """Position of each row in its user's history, newest first (0 = newest), in ``pairs``' row order."""
    for c in (user, item, time):
        if c not in pairs.columns:
            raise ValueError(f"recency weights need the column {c!r} (user, title and time of each pair)")
    df = pd.DataFrame({"u": pairs[user].to_numpy(), "i": pairs[item].to_numpy(), "na": pairs[time].isna().to_numpy(),
                       "t": pairs[time].to_numpy(), "pos": np.arange(len(pairs))})
    df = df.sort_values(["u", "na", "t", "i"], ascending=[True, True, False, True], kind="mergesort")
    rank = np.empty(len(df), dtype=np.int64)
    rank[df["pos"].to_numpy()] = df.groupby("u", sort=False).cumcount().to_numpy()
    return rank


def recency_weights(pairs: pd.DataFrame, rw: RecencyWeights, user: str, item: str, time: str) -> np.ndarray:
    """The weight of each row of ``pairs`` (one row per user and title) in its user's history."""
    r = recency_rank(pairs, user, item, time).astype(np.float64)
    return (rw.floor + (1.0 - rw.floor) * np.power(0.5, r / rw.half_life)).astype(np.float32)
