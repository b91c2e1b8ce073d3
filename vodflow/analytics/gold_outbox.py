"""The hand-over between a batch's Spark half and its gold half, kept durably so the two can overlap.

A micro-batch has two halves (:mod:`stream`): the Spark half (Kafka → bronze, quarantine, silver, and
the small Arrow tables gold needs, :class:`stream_gold.BatchGold`) and the gold half (delta-rs
MERGEs into sessions and the four derived tables, then the ``gold_progress`` row). The gold half
needs no Spark, so it runs in the driver *while Spark works on the next batch*: on 2 cores the
executors would otherwise wait for the driver's MERGEs, and the driver for the executors.

Spark commits a batch's Kafka offsets to its checkpoint as soon as ``foreachBatch`` returns, so after
a crash it will not replay a batch whose gold half had not finished. The gold input is therefore
written here first, in the batch, with the batch's txn pair (one small delta-rs append: the Arrow IPC
of the three tables and the progress fields): this is the transactional-outbox pattern. On start, the
stream applies every row of its query that ``gold_progress`` does not hold yet (:func:`unapplied`),
before Spark runs a batch. Each gold write is idempotent by the same txn pair, so applying a row twice
(a crash between a gold commit and the progress row) changes nothing.

Rows are deleted once their batch's progress row is committed (:func:`prune`, every
``PRUNE_EVERY`` batches), so the table holds a few batches at most.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from vodflow.analytics import lake_rs
from vodflow.analytics import tables as T
from vodflow.settings import Settings

from vodflow.analytics.stream_gold import BatchGold

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

PRUNE_EVERY = 20
_TABLES = ("partials", "adds", "server_ds")
_TIMES = ("max_server_ts", "min_server_ts", "max_client_ts", "watermark")


@dataclass
class Pending:
    """One batch's gold input: what the Spark half computed and the progress row needs."""
    batch_id: int
    gold: BatchGold | None          # None: the batch had no new silver event
    events: int                       # new silver events
    rows: int                         # Kafka records
    quarantined: int
    max_server_ts: datetime | None
    min_server_ts: datetime | None
    max_client_ts: datetime | None    # the watermark state after the batch
    watermark: datetime | None
    steps: dict[str, float] = field(default_factory=dict)  # the Spark half's step times


def put(s: Settings, app_id: str, p: Pending) -> None:
    """Record ``p`` durably (once per (app_id, batch))."""
    import pyarrow as pa

    fields = {k: getattr(p, k) for k in ("events", "rows", "quarantined", "steps")}
    fields.update({k: getattr(p, k).isoformat() if getattr(p, k) else None for k in _TIMES})
    g = p.gold
    row = {"app_id": app_id, "batch_id": p.batch_id, "fields": json.dumps(fields),
           "dates": [d.isoformat() for d in g.dates] if g else None,
           **{k: _ipc(getattr(g, k)) if g else None for k in _TABLES}}
    lake_rs.append(T.GOLD_PENDING, pa.Table.from_pylist([row]), s, app_id=app_id, version=p.batch_id)


def unapplied(s: Settings, app_id: str) -> list[Pending]:
    """The rows of ``app_id`` newer than its last ``gold_progress`` row, oldest first."""
    import pyarrow.dataset as ds

    box = lake_rs.open_table(T.GOLD_PENDING, s)
    if box is None:
        return []
    progress = lake_rs.open_table(T.GOLD_PROGRESS, s)
    done = progress.transaction_version(app_id) if progress is not None else None
    cond = ds.field("app_id") == app_id
    if done is not None:
        cond = cond & (ds.field("batch_id") > done)
    rows = box.to_pyarrow_dataset().to_table(filter=cond).sort_by("batch_id").to_pylist()
    return [_pending(r) for r in rows]


def prune(s: Settings, app_id: str, applied: int) -> None:
    """Delete ``app_id``'s rows up to batch ``applied`` (their progress row is committed)."""
    box = lake_rs.open_table(T.GOLD_PENDING, s)
    if box is not None:
        box.delete(f"app_id = '{app_id}' AND batch_id <= {int(applied)}")
        # only the stream reads this table, and only the rows it has not applied: no reader needs old files
        box.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)


def _ipc(t: "pa.Table") -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue()


def _table(b: bytes) -> "pa.Table":
    import pyarrow as pa

    return pa.ipc.open_stream(b).read_all()


def _pending(r: dict) -> Pending:
    f = json.loads(r["fields"])
    gold = None
    if r["partials"] is not None:
        gold = BatchGold(dates=[date.fromisoformat(d) for d in r["dates"]],
                         **{k: _table(r[k]) for k in _TABLES})
    times = {k: datetime.fromisoformat(f[k]) if f[k] else None for k in _TIMES}
    return Pending(batch_id=r["batch_id"], gold=gold, events=f["events"], rows=f["rows"],
                   quarantined=f["quarantined"], steps=f["steps"], **times)
