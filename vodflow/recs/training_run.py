"""One training run of the ``recs_training`` DAG (and of ``jobs/train_recs.py``), Spark side.

:func:`run_training` reads the Delta user-title table at one pinned version, splits
off the temporal holdout (:mod:`vodflow.recs.holdout`), searches a small grid of
Spark implicit-ALS settings on a validation split carved from train, refits the
best on all of train, scores it (and a popularity baseline) on the holdout, and
writes three files to ``out_dir``:

``factors.npz``     the model for serving (:class:`~vodflow.recs.factors.FactorModel`):
                    factors of the refit, seen set = every title each user has in the
                    snapshot (train + holdout), popularity = interactions per title
``train.parquet``   ``user_id, video_id, last_watched`` training pairs  } what the champion is judged
``holdout.parquet`` ``user_id, video_id, last_watched`` held-out pairs  } on, by the next DAG task

The served model is exactly the evaluated one (trained without the holdout), so the
metrics recorded in MLflow describe what users get and the next night's champion
check is not inflated by a model that has already seen the holdout.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vodflow.recs.als import ALSParams, factor_model, train_als
from vodflow.recs.confidence import WatchWeights
from vodflow.recs.defaults import SPARK_IMPLICIT_PARAMS, TRAINING, WATCH_WEIGHTS
from vodflow.recs.holdout import (ITEM, USER, evaluate_as_served, popularity_model,
                                  temporal_holdout, with_seen)
from vodflow.recs.training_data import ITEM_COL, USER_COL, VALUE_COL, TrainingData, build_training_data

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


class NotEnoughData(ValueError):
    """The snapshot has nothing to hold out (empty table, or every user has a single title)."""


@dataclass(frozen=True)
class TrainConfig:
    """What one run trains on and searches.  The grid is ``ranks x reg_params x alphas``."""

    table_path: str
    table_version: int | None = None
    ranks: tuple[int, ...] = TRAINING.ranks
    reg_params: tuple[float, ...] = TRAINING.reg_params
    alphas: tuple[float, ...] = TRAINING.alphas
    max_iter: int = TRAINING.max_iter
    checkpoint_interval: int = SPARK_IMPLICIT_PARAMS.checkpoint_interval
    holdout_fraction: float = TRAINING.holdout_fraction
    k: int = TRAINING.k
    seed: int = SPARK_IMPLICIT_PARAMS.seed
    weights: WatchWeights = WATCH_WEIGHTS

    def __post_init__(self) -> None:
        for name in ("ranks", "reg_params", "alphas"):
            vals = tuple(getattr(self, name))
            if not vals:
                raise ValueError(f"{name} must not be empty")
            object.__setattr__(self, name, vals)
        if any(int(r) < 1 for r in self.ranks):
            raise ValueError("ranks must be >= 1")
        if any(float(r) < 0 for r in self.reg_params) or any(float(a) < 0 for a in self.alphas):
            raise ValueError("reg_params and alphas must be >= 0")
        if self.max_iter < 1 or self.k < 1:
            raise ValueError("max_iter and k must be >= 1")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError("holdout_fraction must be in (0, 1)")

    def grid(self) -> list[ALSParams]:
        return [ALSParams(rank=int(r), max_iter=self.max_iter, reg_param=float(reg), alpha=float(a),
                          implicit_prefs=True, checkpoint_interval=self.checkpoint_interval, seed=self.seed)
                for r, reg, a in itertools.product(self.ranks, self.reg_params, self.alphas)]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weights"] = self.weights.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """From DAG params / JSON (unknown keys are ignored, ``None`` means the default)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names and v is not None}
        if isinstance(kw.get("weights"), dict):
            kw["weights"] = WatchWeights(**kw["weights"])
        for k in ("ranks", "reg_params", "alphas"):
            if k in kw:
                kw[k] = tuple(kw[k]) if isinstance(kw[k], (list, tuple)) else (kw[k],)
        return cls(**kw)


@dataclass
class TrainResult:
    out_dir: Path
    table_path: str
    table_version: int
    table_version_timestamp: str | None
    best: ALSParams
    metrics: dict[str, float]             # the refit on all of train, scored on the holdout
    baseline: dict[str, float]            # popularity of train, scored on the holdout
    tuning: list[dict[str, Any]]          # every grid point with its validation metrics
    stats: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0

    @property
    def factors_path(self) -> Path:
        return self.out_dir / "factors.npz"

    @property
    def train_path(self) -> Path:
        return self.out_dir / "train.parquet"

    @property
    def holdout_path(self) -> Path:
        return self.out_dir / "holdout.parquet"

    def params_for_mlflow(self, cfg: TrainConfig) -> dict[str, Any]:
        grid = {"grid_ranks": list(cfg.ranks), "grid_reg_params": list(cfg.reg_params),
                "grid_alphas": list(cfg.alphas), "holdout_fraction": cfg.holdout_fraction, "k": cfg.k}
        return {**{f"als_{k}": v for k, v in self.best.as_dict().items()}, **self.lineage, **grid}

    def metrics_for_mlflow(self) -> dict[str, float]:
        out = {f"holdout_{k}": v for k, v in self.metrics.items()}
        out.update({f"holdout_popularity_{k}": v for k, v in self.baseline.items() if k not in ("users", "holdout_users")})
        best = max(self.tuning, key=lambda t: t["valid_score"]) if self.tuning else None
        if best:
            out["valid_score_best"] = best["valid_score"]
        out.update({f"stat_{k}": float(v) for k, v in self.stats.items()})
        out["train_seconds"] = self.train_seconds
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (XCom, job output)."""
        return {"out_dir": str(self.out_dir), "table_path": self.table_path, "table_version": self.table_version,
                "best": self.best.as_dict(), "metrics": self.metrics, "baseline": self.baseline,
                "tuning": self.tuning, "stats": self.stats, "train_seconds": round(self.train_seconds, 3)}


def selection_metric(k: int) -> str:
    """The metric the search and the champion check compare (nDCG@k on held-out titles)."""
    return f"ndcg_at_{k}"


def snapshot_pairs(spark: "SparkSession", td: TrainingData) -> "DataFrame":
    """``user, item, value, last_watched`` of ``td``'s pinned Delta version: what the temporal holdout
    splits (last_watched per pair of the SAME version; the run and its reproduction both use this)."""
    from pyspark.sql import functions as F

    raw = (spark.read.format("delta").option("versionAsOf", td.version).load(td.table_path)
           .where(F.col("user_id").isNotNull() & F.col("video_id").isNotNull())
           .groupBy("user_id", "video_id").agg(F.max("last_watched").alias("last_watched")))
    times = (raw.join(F.broadcast(td.user_map), "user_id").join(F.broadcast(td.item_map), "video_id")
             .select(F.col("user").alias(USER_COL), F.col("item").alias(ITEM_COL), "last_watched"))
    return td.ratings.join(times, [USER_COL, ITEM_COL], "left")


def external_pairs(td: TrainingData, df: "DataFrame") -> pd.DataFrame:
    """Int ids -> external string ids (``user_id, video_id``, + ``last_watched`` when ``df`` has it)."""
    from vodflow.spark import to_pandas

    cols = [c for c in (USER_COL, ITEM_COL, "last_watched") if c in df.columns]
    p = to_pandas(df.select(*cols))
    return pd.DataFrame({USER: td.user_ids[p[USER_COL].to_numpy(dtype=np.int64)],
                         ITEM: td.item_ids[p[ITEM_COL].to_numpy(dtype=np.int64)],
                         **({"last_watched": p["last_watched"].to_numpy()} if "last_watched" in p else {})})


def run_training(spark: "SparkSession", cfg: TrainConfig, out_dir: str | Path,
                 checkpoint_dir: str | Path | None = None) -> TrainResult:
    """Snapshot -> holdout -> grid search -> refit -> holdout metrics -> ``factors.npz`` + split files."""
    from vodflow.spark import to_pandas

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    td = build_training_data(spark, cfg.table_path, cfg.weights, version=cfg.table_version)
    cached = []
    try:
        train_t, hold = temporal_holdout(snapshot_pairs(spark, td), cfg.holdout_fraction, USER_COL, ITEM_COL)
        train_t = train_t.cache()
        cached.append(train_t)
        fit_t, valid = temporal_holdout(train_t, cfg.holdout_fraction, USER_COL, ITEM_COL)
        train = train_t.select(USER_COL, ITEM_COL, VALUE_COL)
        fit = fit_t.select(USER_COL, ITEM_COL, VALUE_COL).cache()
        cached.append(fit)

        def ext(df) -> pd.DataFrame:
            return external_pairs(td, df)

        train_int = to_pandas(train.select(USER_COL, ITEM_COL))
        fit_int = to_pandas(fit.select(USER_COL, ITEM_COL))
        train_ext, hold_ext, fit_ext, valid_ext = ext(train_t), ext(hold), ext(fit), ext(valid)
        if hold_ext.empty:
            raise NotEnoughData(f"{cfg.table_path} v{td.version} ({td.stats['rows']} rows): no user has two "
                                "titles, nothing to hold out; the model cannot be evaluated")
        metric = selection_metric(cfg.k)

        tuning: list[dict[str, Any]] = []
        grid = cfg.grid()
        for p in grid if len(grid) > 1 else []:  # one point: nothing to choose, no validation fit
            t0 = time.perf_counter()
            m = train_als(fit, p, USER_COL, ITEM_COL, VALUE_COL, checkpoint_dir=checkpoint_dir)
            secs = time.perf_counter() - t0
            fm = factor_model(m, fit_int, td.user_ids, td.item_ids, col_user=USER_COL, col_item=ITEM_COL)
            res = evaluate_as_served(fm, valid_ext, fit_ext, cfg.k) if not valid_ext.empty else {metric: 0.0}
            log.info("recs tuning rank=%d reg=%g alpha=%g -> %s=%.4f (%.1fs)", p.rank, p.reg_param, p.alpha,
                     metric, res[metric], secs)
            tuning.append({"rank": p.rank, "reg_param": p.reg_param, "alpha": p.alpha, "max_iter": p.max_iter,
                           "valid": res, "valid_score": res[metric], "seconds": round(secs, 3)})
        # best validation score; ties go to the earlier grid point (smaller rank / regularisation first)
        best = grid[max(range(len(tuning)), key=lambda i: (tuning[i]["valid_score"], -i))] if tuning else grid[0]

        t0 = time.perf_counter()
        final = train_als(train, best, USER_COL, ITEM_COL, VALUE_COL, checkpoint_dir=checkpoint_dir)
        fit_secs = time.perf_counter() - t0
        fm_train = factor_model(final, train_int, td.user_ids, td.item_ids, col_user=USER_COL, col_item=ITEM_COL)
        metrics = evaluate_as_served(fm_train, hold_ext, train_ext, cfg.k)
        baseline = evaluate_as_served(popularity_model(train_ext), hold_ext, train_ext, cfg.k)
        log.info("recs holdout %s=%.4f (popularity %.4f)", metric, metrics[metric], baseline[metric])

        lineage = td.lineage()
        all_pairs = pd.concat([train_ext, hold_ext], ignore_index=True)
        meta = {**lineage, "als": best.as_dict(), "holdout_metrics": metrics, "config": cfg.as_dict(),
                "seen": "every title of the user in the snapshot"}
        with_seen(fm_train, all_pairs, meta).save(out / "factors.npz")
        train_ext.to_parquet(out / "train.parquet", index=False)
        hold_ext.to_parquet(out / "holdout.parquet", index=False)
        (out / "tuning.json").write_text(json.dumps(tuning, indent=2))
        stats = {**td.stats, "train_pairs": len(train_ext), "holdout_pairs": len(hold_ext),
                 "holdout_users": int(hold_ext[USER].nunique()), "final_fit_seconds": round(fit_secs, 3)}
        return TrainResult(out, cfg.table_path, td.version, td.version_timestamp, best, metrics, baseline,
                           tuning, stats, lineage, time.perf_counter() - t_start)
    finally:
        for df in cached:
            df.unpersist()
        td.unpersist()
