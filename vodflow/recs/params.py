"""Parameter records of the recommenders (plain dataclasses, no numpy or Spark: light enough for DAG files).

Their values -- vodflow's tuned defaults and the nightly grid -- are set in :mod:`vodflow.recs.defaults`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ALSParams:
    """Spark ALS settings.  Defaults are vodflow's implicit-feedback defaults (why: :mod:`vodflow.recs.defaults`)."""

    rank: int = 32
    max_iter: int = 15
    reg_param: float = 0.3
    alpha: float = 3.0
    implicit_prefs: bool = True
    nonnegative: bool = False
    checkpoint_interval: int = 10
    num_blocks: int | None = None  # None: one block per executor core (see default_num_blocks)
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **kw: Any) -> "ALSParams":
        return replace(self, **kw)


@dataclass(frozen=True)
class ImplicitLibParams:
    factors: int = 64
    regularization: float = 1.0
    iterations: int = 15
    alpha: float = 10.0  # applied as matrix entries 1 + alpha * v; the library's own alpha stays 1
    use_cg: bool = True
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImplicitBPRParams:
    """The `implicit` library's CPU BPR (binary feedback; one sampled negative per positive)."""

    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecencyWeights:
    """How much each title of a user's history counts when an item-item model scores it
    (:mod:`vodflow.recs.recency`): ``floor + (1 - floor) * 0.5 ** (r / half_life)``, ``r`` = 0 for the
    user's newest title, 1 for the one before, ...  ``floor = 1`` is the plain 0/1 history.  vodflow's values: :data:`vodflow.recs.defaults.EASE_RECENCY`."""

    half_life: float  # titles (not days): how many titles back a title counts half as much
    floor: float      # what every old title still counts (share of the newest title's weight)

    def __post_init__(self) -> None:
        if not self.half_life > 0:
            raise ValueError(f"recency half_life must be > 0 titles, got {self.half_life}")
        if not 0 <= self.floor <= 1:
            raise ValueError(f"recency floor must be in [0, 1], got {self.floor}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
