"""Helpers of the recommendation DAG / serving tests: a small watch-history table with taste groups."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd

USER_TITLE_SCHEMA = ("user_id string, video_id string, sessions long, watch_time_s double, "
                     "watch_fraction double, completed boolean, last_watched timestamp")
T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


def video_ids(n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


def watch_history(n_users: int = 160, n_items: int = 60, n_groups: int = 4, seed: int = 11,
                  p_in: float = 0.35, p_out: float = 0.015) -> pd.DataFrame:
    """One row per (user, title) in the gold ``user_title`` layout.

    Users and titles fall in taste groups; users watch mostly titles of their own group,
    in random order over 60 days, so each user's newest titles (the holdout) are predictable
    from their older ones by a collaborative model, and much less so by popularity.
    """
    rng = np.random.default_rng(seed)
    items = video_ids(n_items, seed)
    ug = rng.integers(0, n_groups, n_users)
    ig = np.arange(n_items) % n_groups
    tilt = np.linspace(1.4, 0.6, n_items)
    p = np.where(ug[:, None] == ig[None, :], p_in, p_out) * tilt[None, :]
    hit = rng.random((n_users, n_items)) < np.clip(p, 0, 1)
    for u in range(n_users):  # everybody has at least two titles of their group
        own = np.nonzero(ig == ug[u])[0]
        hit[u, rng.choice(own, 2, replace=False)] = True
    u, i = np.nonzero(hit)
    frac = np.clip(rng.beta(2, 1, len(u)), 0.02, 1.0)
    done = frac > 0.9
    frac = np.where(done, 1.0, frac)
    minutes = rng.integers(0, 60 * 24 * 60, len(u))
    return pd.DataFrame({
        "user_id": [f"u-{x:04d}" for x in u], "video_id": [items[x] for x in i],
        "sessions": rng.integers(1, 4, len(u)).astype(np.int64), "watch_time_s": frac * 5400.0,
        "watch_fraction": frac, "completed": done,
        "last_watched": [T0 - dt.timedelta(minutes=int(m)) for m in minutes],
    })


def write_user_title(spark, df: pd.DataFrame, path: str, mode: str = "overwrite") -> None:
    cols = [c.split()[0] for c in USER_TITLE_SCHEMA.split(", ")]
    lists = [[t.to_pydatetime() for t in df[c]] if c == "last_watched" else df[c].tolist() for c in cols]
    spark.createDataFrame(list(zip(*lists)), USER_TITLE_SCHEMA).write.format("delta").mode(mode).save(path)
