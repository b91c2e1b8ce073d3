"""The batch's gold reductions, two engines, one SQL: Spark (``collect``, a big batch) and DuckDB on the
driver's Arrow (``collect_local``, a small batch) give the same rows on the same events - ties on
client_ts broken by Kafka order, NULLs at the extreme row, sums over a mix of event types."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa

from vodflow.analytics import stream_gold as G
from vodflow.analytics import tables as T
from vodflow.analytics.query import arrow_schema

T0 = datetime(2026, 12, 6, 23, 59, 58, tzinfo=timezone.utc)   # the session crosses midnight


def events() -> pa.Table:
    rows = []

    def ev(sid, typ, dt_s, p, o, **kw):
        ts = T0 + timedelta(seconds=dt_s)
        rows.append(dict(schema_version=1, type=typ, event_id=f"e{len(rows)}", session_id=sid, user_id=f"u-{sid}",
                         video_id=f"v-{sid}", client_ts=ts, server_ts=ts + timedelta(milliseconds=250 + len(rows)),
                         position_s=kw.pop("pos", float(dt_s)), duration_s=kw.pop("dur", 100.0), rung="720p",
                         device=kw.pop("device", "web"), country="NL", kafka_partition=p, kafka_offset=o,
                         event_date=ts.date(), **kw))

    ev("a", "startup", 0, 0, 1, startup_ms=900)
    ev("a", "video_progress", 1, 0, 2, played_s=10.0)
    ev("a", "video_progress", 1, 1, 3, played_s=10.0, pos=7.5)     # same client_ts: Kafka order decides
    ev("a", "rebuffer_end", 3, 0, 4, duration_ms=1200)
    ev("a", "video_seek", 4, 0, 5, from_position_s=4.0, to_position_s=60.0)
    ev("a", "video_completed", 5, 1, 6, device="tv")
    ev("b", "heartbeat", 0, 2, 7, pos=3.0, dur=None)                 # no duration, no startup: NULLs
    ev("b", "bitrate_switch", 2, 2, 8, from_rung="360p", to_rung="720p")
    ev("c", "video_progress", 0, 3, 9, played_s=4.25)
    schema = arrow_schema(T.SILVER)
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def rows(t: pa.Table, key: list[str]) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: [r[k] for k in key])


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.astimezone(timezone.utc) == b.astimezone(timezone.utc)
    return a == b


def test_spark_and_duckdb_reduce_a_batch_to_the_same_gold_input(spark):
    arrow = events()
    by_spark = G.collect(spark, spark.createDataFrame(arrow))
    local = G.collect_local(arrow)
    for name, key in (("partials", ["session_id"]), ("adds", ["date", "rung", "device"]), ("server_ds", ["ds"])):
        a, b = rows(getattr(by_spark, name), key), rows(getattr(local, name), key)
        assert len(a) == len(b) > 0, name
        for ra, rb in zip(a, b):
            assert ra.keys() == rb.keys(), (name, ra.keys(), rb.keys())
            assert all(same(ra[k], rb[k]) for k in ra), (name, ra, rb)
    part = {r["session_id"]: r for r in local.partials.to_pylist()}
    assert part["a"]["last_position_s"] == 5.0 and part["a"]["startup_ms"] == 900 and part["a"]["completed"]
    assert part["a"]["played_s"] == 20.0 and part["a"]["rebuffer_ms"] == 1200 and part["a"]["max_position_s"] == 60.0
    assert part["b"]["startup_ms"] is None and part["b"]["duration_s"] == 100.0 and part["b"]["switches"] == 1
    assert {r["date"] for r in local.adds.to_pylist()} == {date(2026, 12, 6), date(2026, 12, 7)}
    assert local.events == by_spark.events == 9
