"""delta-rs writes of the stream's gold half (vodflow.analytics.lake_rs): once per batch, and readable by
every reader - a real Delta table on disk, no Spark."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pyarrow as pa

from vodflow.analytics import lake_rs
from vodflow.analytics import tables as T
from vodflow.analytics.query import arrow_schema, connect
from vodflow.settings import load

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def rows(*pairs):
    return pa.Table.from_pylist([{"user_id": u, "video_id": v, "sessions": n, "watch_time_s": 10.0 * n,
                                  "watch_fraction": 0.5, "completed": False, "last_watched": NOW}
                                 for u, v, n in pairs], schema=arrow_schema(T.USER_TITLE))


def merge(s, src, version):
    def go(dt, props):
        (dt.merge(src, predicate="t.user_id = u.user_id AND t.video_id = u.video_id", source_alias="u",
                  target_alias="t", commit_properties=props)
           .when_matched_update_all().when_not_matched_insert_all().execute())

    return lake_rs.write(T.USER_TITLE, s, go, app_id="vodflow-events-test", version=version)


def test_a_batch_is_written_once_and_the_next_one_lands(tmp_path):
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path)})
    lake_rs.append(T.GOLD_PROGRESS, pa.Table.from_pylist([{"batch_id": 0, "events": 3, "committed_at": NOW,
                                                           "steps": [("read", 0.1)]}],
                                                         schema=arrow_schema(T.GOLD_PROGRESS)),
                   s, app_id="vodflow-events-test", version=0)
    merge(s, rows(("u1", "A", 1), ("u2", "A", 1)), 0)
    assert merge(s, rows(("u1", "A", 5)), 0) is None            # a replay of batch 0: skipped
    merge(s, rows(("u1", "A", 2), ("u3", "B", 1)), 1)           # batch 1: one update, one insert
    dt = lake_rs.open_table(T.USER_TITLE, s)
    got = {(r["user_id"], r["video_id"]): r["sessions"] for r in dt.to_pyarrow_table().to_pylist()}
    assert got == {("u1", "A"): 2, ("u2", "A"): 1, ("u3", "B"): 1}
    assert dt.transaction_version("vodflow-events-test") == 1
    assert lake_rs.open_table(T.GOLD_PROGRESS, s).to_pyarrow_table().column("events").to_pylist() == [3]


def test_merged_tables_stay_filterable_by_vodflow_sql(tmp_path):
    """deltalake >= 1.5 MERGEs write Parquet strings as Arrow string_view, which PyArrow cannot filter:
    `vodflow sql` (DuckDB over PyArrow datasets) must still filter the stream's gold tables on strings."""
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path)})
    merge(s, rows(("u1", "A", 1), ("u2", "A", 1)), 0)
    merge(s, rows(("u1", "A", 3)), 1)
    con = connect(s, ["user_title"])
    assert con.execute("SELECT sessions FROM user_title WHERE user_id = 'u1' AND video_id >= 'A'").fetchall() == [(3,)]
