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
