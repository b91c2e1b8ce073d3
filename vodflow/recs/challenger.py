"""The challenger of the nightly run: EASE^R on exactly the split the ALS model was judged on.

The model: EASE^R (:mod:`vodflow.recs.ease`) scoring each user's history weighted newest first
(:mod:`vodflow.recs.recency`, ``TRAINING.ease_recency``; the split files carry ``last_watched``),
``kind`` ``ease-recency`` in its file and run; with ``recency=None`` the plain 0/1 EASE^R.

Rules:

* Same data: the challenger reads the ALS run's recorded split (``eval/train.parquet``,
  ``eval/holdout.parquet``, i.e. the time split of the same pinned Delta version), so
  both models are fitted on the same training pairs and scored on the same holdout
  with the same as-served candidates (:func:`vodflow.recs.holdout.evaluate_as_served`).
* Same lineage: its MLflow run carries the ALS run's Delta ``table_path``,
  ``table_version`` (and the other lineage params), so its data can be re-read by time
  travel exactly as the ALS model's can.
* Same gate: the DAG registers it as a version of the same registered model and runs
  :func:`vodflow.recs.registry.decide_champion` *after* the ALS decision, so it takes the
  ``champion`` alias only if it strictly beats whoever holds it then (a tie keeps ALS).
* Served like ALS: the file is a :class:`~vodflow.recs.factors.FactorModel` whose seen set
  and popularity are the whole snapshot (train + holdout), as the ALS run writes its own.

:func:`train_challenger` is the pure part (frames in, files and dicts out); the MLflow side
lives in :mod:`vodflow.recs.training`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vodflow.recs.ease import fit_ease
from vodflow.recs.holdout import ITEM, USER, evaluate_as_served, with_seen
from vodflow.recs.params import RecencyWeights

#: params of the ALS run the challenger's run repeats (where its data came from)
LINEAGE_PARAMS = ("table_path", "table_version", "table_version_timestamp", "reference_time",
                  "holdout_fraction", "k")


@dataclass(frozen=True)
class ChallengerResult:
    kind: str
    params: dict[str, Any]
    metrics: dict[str, float]
    factors_path: Path
    eval_files: list[Path]
    seconds: float


def train_challenger(train: pd.DataFrame, holdout: pd.DataFrame, l2: float, k: int, out_dir: str | Path,
                     lineage: Mapping[str, Any], recency: RecencyWeights | None = None) -> ChallengerResult:
    """Fit EASE^R on ``train`` (``user_id, video_id`` and, with ``recency``, ``last_watched``), score it
    on ``holdout``, write ``factors.npz`` + the split into ``out_dir``; ``lineage`` = the ALS run's params."""
    import time

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fm = fit_ease(train, l2, recency=recency)
    secs = time.perf_counter() - t0
    metrics = evaluate_as_served(fm, holdout, train, k)
    params = {**{p: lineage[p] for p in LINEAGE_PARAMS if p in lineage}, "model_kind": fm.meta["kind"],
              "ease_l2": l2, **({} if recency is None else {f"recency_{n}": v for n, v in recency.as_dict().items()})}
    all_pairs = pd.concat([train[[USER, ITEM]], holdout[[USER, ITEM]]], ignore_index=True)
    with_seen(fm, all_pairs, {**params, "holdout_metrics": metrics,
                              "seen": "every title of the user in the snapshot"}).save(out / "factors.npz")
    train.to_parquet(out / "train.parquet", index=False)
    holdout.to_parquet(out / "holdout.parquet", index=False)
    out_metrics = {f"holdout_{m}": v for m, v in metrics.items()}
    out_metrics["train_seconds"] = secs
    return ChallengerResult(fm.meta["kind"], params, out_metrics, out / "factors.npz",
                            [out / "train.parquet", out / "holdout.parquet"], secs)
