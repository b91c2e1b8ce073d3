"""The stream's own record of its micro-batches (``gold_progress``), read without a JVM.

Each batch of the analytics stream writes one row: records read, events folded into gold, records
quarantined, freshness percentiles and the seconds each step took (``steps``). ``vodflow stream``
shows the latest ones, so an operator sees where a batch's time goes without reading Spark's logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vodflow.analytics import tables as T
from vodflow.clients import delta_storage_options
from vodflow.settings import Settings, get_settings

#: steps in the order a batch runs them (``stream.process_batch``)
STEP_ORDER = ("read", "bronze", "parse", "quarantine", "silver", "silver_append", "collect", "sessions", "touched",
              "title_hourly", "title_daily", "user_title", "playback_quality", "progress")


@dataclass(frozen=True)
class BatchProgress:
    batch_id: int
    committed_at: datetime
    rows: int | None
    events: int
    quarantined: int | None
    freshness_p99_s: float | None
    total_s: float | None
    steps: dict[str, float]


def recent_batches(s: Settings | None = None, last: int = 20) -> list[BatchProgress]:
    """The ``last`` batches, newest first; [] when the stream has not written any yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    s = s or get_settings()
    try:
        uri = T.GOLD_PROGRESS.location(s)
        rows = DeltaTable(uri, storage_options=delta_storage_options(s, uri)).to_pyarrow_table().to_pylist()
    except TableNotFoundError:
        return []
    rows.sort(key=lambda r: (r["committed_at"], r["batch_id"]), reverse=True)
    out = []
    for r in rows[:last]:
        steps = dict(r.get("steps") or {})
        total = steps.pop("total", None)
        out.append(BatchProgress(r["batch_id"], r["committed_at"], r.get("rows"), r["events"], r.get("quarantined"),
                                 r.get("freshness_p99_s"), total,
                                 {k: steps[k] for k in sorted(steps, key=_step_rank)}))
    return out


def _step_rank(name: str) -> tuple[int, str]:
    return (STEP_ORDER.index(name) if name in STEP_ORDER else len(STEP_ORDER), name)
