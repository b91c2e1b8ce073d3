"""Confidence weights for implicit-feedback ALS.

Spark's implicit ALS (Hu, Koren & Volinsky 2008) reads one number ``v`` per
(user, item) and uses preference ``p = 1 if v > 0 else 0`` and confidence
``c = 1 + alpha * |v|``.  The functions here compute ``v``; ``alpha`` stays an ALS
parameter.  The `implicit` library's confidence is ``alpha * value`` instead, so
it is fed ``1 + alpha * v`` with its own ``alpha = 1`` to fit the same objective
(:func:`implicit_library_confidence`).

MovieLens (explicit stars used as implicit signal: having rated a film at all is
the positive, the stars only modulate how sure we are):

* ``"binary"``  ``v = 1``
* ``"linear"``  ``v = rating / max_rating`` -- scale-free, so the same ``alpha``
  works for 1..5 integer stars (ML-100K) and 0.5..5 half stars (ml-latest).
* ``"log"``     ``v = log1p(rating / eps)`` (the paper's log scaling; ``eps=1``).

A low rating is still a positive: the benchmark counts *every* held-out rating
as relevant, and on a VOD service a title somebody finished and disliked still
says more about their taste than one they never opened.

vodflow watch data (one row per user and title, see :mod:`vodflow.recs.training_data`)::

    v = (w_base + w_watch * clip(watch_fraction, 0, 1) + w_complete * completed)
        * 0.5 ** (age_days / half_life_days)

``age_days`` is counted from the newest ``last_watched`` in the snapshot (not the
wall clock), so re-reading the same Delta version reproduces the same weights.
``w_base`` keeps a started-then-abandoned view a (weak) positive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

RATING_KINDS = ("binary", "linear", "log")


def rating_value(ratings: np.ndarray, kind: str = "linear", max_rating: float = 5.0,
                 eps: float = 1.0) -> np.ndarray:
    """ALS input value ``v`` from explicit ratings (see module doc)."""
    r = np.asarray(ratings, dtype=np.float64)
    if kind == "binary":
        return np.ones_like(r)
    if kind == "linear":
        return r / max_rating
    if kind == "log":
        return np.log1p(r / eps)
    raise ValueError(f"unknown confidence kind {kind!r}; choose one of {RATING_KINDS}")


def spark_confidence(value: np.ndarray, alpha: float) -> np.ndarray:
    """The confidence Spark's implicit ALS derives from ``value``: ``1 + alpha * |v|``."""
    return 1.0 + alpha * np.abs(np.asarray(value, dtype=np.float64))


def implicit_library_confidence(value: np.ndarray, alpha: float) -> np.ndarray:
    """Matrix entries for the `implicit` library (run with its ``alpha=1``) giving Spark's confidence."""
    return spark_confidence(value, alpha)


@dataclass(frozen=True)
class WatchWeights:
    """Weights of the watch-history confidence value (see module doc)."""

    w_base: float = 0.2
    w_watch: float = 1.0
    w_complete: float = 0.5
    half_life_days: float | None = 90.0  # None or <= 0: no recency decay

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def watch_value(watch_fraction: np.ndarray, completed: np.ndarray, age_days: np.ndarray,
                weights: WatchWeights = WatchWeights()) -> np.ndarray:
    """Numpy version of the watch confidence value (used by tests and the API)."""
    wf = np.clip(np.nan_to_num(np.asarray(watch_fraction, dtype=np.float64)), 0.0, 1.0)
    done = np.asarray(completed, dtype=np.float64)
    v = weights.w_base + weights.w_watch * wf + weights.w_complete * done
    hl = weights.half_life_days
    if hl is not None and hl > 0:
        age = np.maximum(np.asarray(age_days, dtype=np.float64), 0.0)
        v = v * np.power(0.5, age / hl)
    return v


def watch_value_column(watch_fraction: "Column", completed: "Column", age_days: "Column",
                       weights: WatchWeights = WatchWeights()) -> "Column":
    """Spark Column version of :func:`watch_value` (same formula, null-safe)."""
    from pyspark.sql import functions as F

    wf = F.least(F.greatest(F.coalesce(watch_fraction.cast("double"), F.lit(0.0)), F.lit(0.0)), F.lit(1.0))
    done = F.coalesce(completed.cast("double"), F.lit(0.0))
    v = F.lit(weights.w_base) + F.lit(weights.w_watch) * wf + F.lit(weights.w_complete) * done
    hl = weights.half_life_days
    if hl is not None and hl > 0:
        age = F.greatest(F.coalesce(age_days.cast("double"), F.lit(0.0)), F.lit(0.0))
        v = v * F.pow(F.lit(0.5), age / F.lit(float(hl)))
    return v
