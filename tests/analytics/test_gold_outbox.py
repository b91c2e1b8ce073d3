"""The stream's gold outbox (vodflow.analytics.gold_outbox): a batch's gold input survives the process
and is offered again until that batch's gold_progress row is committed - a real Delta table on disk,
no Spark. (tests/analytics/test_stream_restart.py kills the stream while gold halves are in flight.)"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

import pyarrow as pa

from vodflow.analytics import gold_outbox as O
from vodflow.analytics import lake_rs
from vodflow.analytics import tables as T
from vodflow.analytics.query import arrow_schema
from vodflow.analytics.stream_gold import BatchGold
from vodflow.settings import load

APP = "vodflow-events-test"
T0 = datetime(2026, 12, 6, 3, 0)  # naive, as Spark hands timestamps back


def pending(batch_id: int, sessions: int = 2) -> O.Pending:
    partials = pa.table({"session_id": [f"s{i}" for i in range(sessions)], "events": list(range(sessions))})
    gold = BatchGold(partials=partials, adds=pa.table({"rung": ["720p"], "played_s": [10.0]}),
                     server_ds=pa.table({"ds": [17_000_000_000], "n": [sessions]}),
                     dates=[date(2026, 12, 5), date(2026, 12, 6)])
    return O.Pending(batch_id=batch_id, gold=gold, events=sessions, rows=sessions + 1, quarantined=1,
                     max_server_ts=T0, min_server_ts=T0, max_client_ts=T0, watermark=None,
                     steps={"read": 0.5, "parse": 1.25})


def progress_row(s, batch_id: int) -> None:
    lake_rs.append(T.GOLD_PROGRESS, pa.Table.from_pylist(
        [{"batch_id": batch_id, "events": 1, "committed_at": datetime.now(timezone.utc), "steps": [("read", 0.1)]}],
        schema=arrow_schema(T.GOLD_PROGRESS)), s, app_id=APP, version=batch_id)


def test_a_batch_gold_input_round_trips_and_is_recorded_once(tmp_path):
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path)})
    assert O.unapplied(s, APP) == []  # no outbox yet
    p = pending(0)
    O.put(s, APP, p)
    O.put(s, APP, pending(0, sessions=5))  # a replay of batch 0: skipped, the first record stands
    got = O.unapplied(s, APP)
    assert len(got) == 1
    g = got[0]
    assert (g.batch_id, g.events, g.rows, g.quarantined, g.steps) == (0, 2, 3, 1, {"read": 0.5, "parse": 1.25})
    assert (g.max_server_ts, g.min_server_ts, g.max_client_ts, g.watermark) == (T0, T0, T0, None)
    assert g.gold.dates == p.gold.dates
    for k in ("partials", "adds", "server_ds"):
        assert getattr(g.gold, k).equals(getattr(p.gold, k)), k


def test_only_batches_without_a_progress_row_are_offered_and_applied_ones_are_pruned(tmp_path):
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path)})
    for b in range(4):
        O.put(s, APP, pending(b))
    O.put(s, "another-query", pending(7))
    empty = O.Pending(batch_id=4, gold=None, events=0, rows=3, quarantined=3, max_server_ts=None,
                      min_server_ts=None, max_client_ts=T0, watermark=T0)
    O.put(s, APP, empty)  # a batch of bad records only: no gold input, a progress row all the same
    for b in range(2):
        progress_row(s, b)
    got = O.unapplied(s, APP)
    assert [p.batch_id for p in got] == [2, 3, 4]
    assert got[-1].gold is None and got[-1].watermark == T0
    O.prune(s, APP, 1)
    rows = lake_rs.open_table(T.GOLD_PENDING, s).to_pyarrow_table(columns=["app_id", "batch_id"]).to_pylist()
    assert sorted((r["app_id"], r["batch_id"]) for r in rows) == sorted([
        (APP, 2), (APP, 3), (APP, 4), ("another-query", 7)])
    assert [p.batch_id for p in O.unapplied(s, "another-query")] == [7]
