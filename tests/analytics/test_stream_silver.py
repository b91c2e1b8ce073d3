"""The small-batch resend check (stream_silver.drops_local) against a silver table written by delta-rs:
the same answers as the Spark plan of ``drops`` (test_stream_gold runs both paths end to end)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa

from vodflow.analytics import lake_rs
from vodflow.analytics import stream_silver as S
from vodflow.analytics import tables as T
from vodflow.analytics.query import arrow_schema
from vodflow.settings import load

T0 = datetime(2026, 12, 6, 10, 0, 5, 123456, tzinfo=timezone.utc)


def keys(rows):
    return pa.table({"_id": [r[0] for r in rows], "_ts": pa.array([r[1] for r in rows], pa.timestamp("us", "UTC")),
                     "_p": pa.array([r[2] for r in rows], pa.int32()), "_o": pa.array([r[3] for r in rows], pa.int64())})


def silver_with(s, rows):
    """Silver holding (event_id, client_ts, kafka_partition, kafka_offset) ``rows`` (other columns null/typed)."""
    schema = arrow_schema(T.SILVER)
    cols = {f.name: pa.nulls(len(rows), f.type) for f in schema}
    cols.update(event_id=pa.array([r[0] for r in rows]), type=pa.array(["heartbeat"] * len(rows)),
                client_ts=pa.array([r[1] for r in rows], schema.field("client_ts").type),
                kafka_partition=pa.array([r[2] for r in rows], schema.field("kafka_partition").type),
                kafka_offset=pa.array([r[3] for r in rows], schema.field("kafka_offset").type),
                event_date=pa.array([r[1].date() for r in rows], schema.field("event_date").type))
    lake_rs.open_table(T.SILVER, s, create=True)
    lake_rs.append(T.SILVER, pa.table(cols, schema=schema), s)


def minutes(rows):
    return [r[1].replace(second=0, microsecond=0).astimezone().replace(tzinfo=None) for r in rows]


def found(table):
    return sorted(zip(table.column("_p").to_pylist(), table.column("_o").to_pylist(), table.column("_late").to_pylist()))


def test_in_batch_copies_silver_resends_and_late_records_are_dropped_and_replays_are_not(tmp_path):
    s = load({"VODFLOW_LAKE_URI": str(tmp_path / "lake")})
    held, replayed = ("a", T0, 0, 10), ("r", T0 + timedelta(seconds=1), 1, 11)
    silver_with(s, [held, replayed, ("far", T0 + timedelta(hours=3), 0, 12)])
    batch = [("a", T0, 2, 40),                                     # a resend of a silver row: dropped
             ("r", T0 + timedelta(seconds=1), 1, 11),              # the same Kafka record (a replay): kept
             ("b", T0 + timedelta(seconds=2), 1, 42), ("b", T0 + timedelta(seconds=2), 0, 43),  # 2nd copy
             ("b", T0 + timedelta(seconds=9), 2, 44),              # same id, other client time: an event
             ("old", T0 - timedelta(hours=1), 2, 45)]              # behind the watermark: late
    wm = (T0 - timedelta(minutes=15)).astimezone().replace(tzinfo=None)   # as Spark hands it back: naive local
    out = S.drops_local(s, keys(batch), minutes(batch), wm)
    assert out.schema == pa.schema([("_p", pa.int32()), ("_o", pa.int64()), ("_late", pa.bool_())])
    assert found(out) == [(1, 42, False), (2, 40, False), (2, 45, True)]
    # no watermark yet, nothing in silver for these minutes: only the batch's own copies
    first = S.drops_local(load({"VODFLOW_LAKE_URI": str(tmp_path / "empty")}), keys(batch), minutes(batch), None)
    assert found(first) == [(1, 42, False)]
    assert S.drops_local(s, keys([]), [], wm).num_rows == 0
