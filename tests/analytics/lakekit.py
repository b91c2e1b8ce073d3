"""A small, hand-computable analytics lake written with delta-rs (no JVM), for the query/report tests.

Dates are relative to today (UTC) so "last 7 days" queries have fixed answers. Expected values are
written next to the data; ``user_title``, ``title_hourly`` and ``bronze_events`` are deliberately
not written (the "not written yet" cases).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from vodflow.analytics.tables import DROPOFF_BUCKETS, TABLES
from vodflow.settings import Settings, load

VIDEO_A = "3f2b8c1e-5d4a-4e8b-9c2f-1a6d7e8f9a0b"   # the id used in docs/analytics.md
VIDEO_B = "b0b0b0b0-0000-4000-8000-00000000000b"
VIDEO_C = "c0c0c0c0-0000-4000-8000-00000000000c"

TODAY = datetime.now(timezone.utc).date()
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def day(n: int) -> date:
    return TODAY - timedelta(days=n)


def drop(**buckets: int) -> list[int]:
    """``drop(b0=2, b9=1)``: a dropoff array with counts in 0-based buckets."""
    out = [0] * DROPOFF_BUCKETS
    for k, v in buckets.items():
        out[int(k[1:])] = v
    return out


# (video_id, days ago, views, unique_viewers, watch_time_s, completions, dropoff)
TITLE_DAILY_ROWS = [
    (VIDEO_A, 0, 10, 8, 18000.0, 4, drop(b0=2, b4=1, b9=2, b19=1)),
    (VIDEO_A, 2, 10, 9, 9000.0, 2, drop(b0=4, b9=2, b14=2)),
    (VIDEO_A, 10, 20, 15, 36000.0, 10, drop(b0=10)),
    (VIDEO_B, 1, 5, 5, 30600.0, 5, drop()),
    (VIDEO_B, 8, 100, 90, 360000.0, 0, drop(b0=100)),
    (VIDEO_C, 0, 4, 4, 3600.0, 1, drop(b1=2)),           # one view ended at an unknown position
]

# the titles dimension names A and B; C has no row (a title the dimension has not caught up with)
TITLE_NAMES = {VIDEO_A: "Big Buck Bunny", VIDEO_B: "Bikes"}

# hand-computed answers
TOP_7_DAYS = [(VIDEO_B, "Bikes", 5, 8.5), (VIDEO_A, "Big Buck Bunny", 20, 7.5), (VIDEO_C, None, 4, 1.0)]
# video, title, views, watch hours
COMPLETION_30_DAYS = [(VIDEO_A, "Big Buck Bunny", 40, 16, 0.4), (VIDEO_C, None, 4, 1, 0.25),
                      (VIDEO_B, "Bikes", 105, 5, 5 / 105)]
# VIDEO_A over 30 days: views 40; dropoff sums b0 16, b4 1, b9 4, b14 2, b19 1
A_STILL_WATCHING = {1: 0.6, 4: 0.6, 5: 0.575, 9: 0.575, 10: 0.475, 15: 0.425, 19: 0.425, 20: 0.4}
A_ENDED = {1: 16, 5: 1, 10: 4, 15: 2, 20: 1}                                        # 1-based bucket -> ended

# (days ago, rung, device, startups, p50, p95, played_s, rebuffers, rebuffer_ms)
QUALITY_ROWS = [
    (0, "720p", "web", 3, 200.0, 380.0, 1000.0, 2, 3000),
    (0, "1080p", "web", 1, 400.0, 400.0, 2000.0, 1, 1000),
    (1, "1080p", "tv", 2, 1000.0, 1450.0, 4000.0, 0, 0),
    (20, "720p", "tv", 1, 99999.0, 99999.0, 1000.0, 5, 9000),   # outside the last 7 days
]
# device -> (rebuffers, rebuffer_ratio, startups, p50 ms, p95 ms), last 7 days
QUALITY_BY_DEVICE = {"tv": (0, 0.0, 2, 1000.0, 1450.0),
                     "web": (3, 4000 / (4000 + 1000 * 3000.0), 4, 250.0, 385.0)}
STARTUPS = [("web", 100, 0), ("web", 200, 0), ("web", 300, 1), ("web", 400, 2), ("tv", 500, 1), ("tv", 1500, 1),
            ("tv", 99999, 12)]                                  # device, startup_ms, days ago

QUARANTINE_ROWS = [("invalid", "position_s: must be >= 0")] * 3 + [("malformed", "not JSON")] + \
                  [("late", "beyond the watermark")] * 2
FRESHNESS_LAG = timedelta(minutes=5)                             # newest event is 5 min old


def _ts(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=timezone.utc)


def _write(lake: Path, name: str, rows: list[dict], **kw) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from vodflow.analytics.query import arrow_schema

    t = TABLES[name]
    schema = arrow_schema(t)
    data = pa.Table.from_pylist([{c: r.get(c) for c in t.column_names} for r in rows], schema=schema)
    write_deltalake(str(lake / t.path), data, partition_by=list(t.partition_by) or None, **kw)


def _event(i: int, typ: str, video: str, ts: datetime, device: str = "web", **extra) -> dict:
    return dict(schema_version=1, type=typ, event_id=f"00000000-0000-4000-8000-{i:012d}",
                session_id=f"10000000-0000-4000-8000-{i:012d}", user_id=f"u{i}", video_id=video,
                client_ts=ts, server_ts=ts + timedelta(seconds=1), position_s=0.0, duration_s=600.0,
                rung="720p", device=device, country="FR", kafka_partition=0, kafka_offset=i,
                event_date=ts.date(), **extra)


# startups at midnight of their day: never in the future, whatever the hour the tests run at
EVENTS = [_event(i, "startup", VIDEO_A, _ts(day(n), 0), device=dev, startup_ms=ms)
          for i, (dev, ms, n) in enumerate(STARTUPS)] + [
    _event(100, "video_progress", VIDEO_B, NOW - FRESHNESS_LAG, played_s=10.0),
    _event(101, "video_started", VIDEO_B, NOW - timedelta(minutes=30))]
# the freshness query's answer: NOW - FRESHNESS_LAG, except in the first minutes of a UTC day, when today's
# midnight startups are newer
NEWEST_EVENT = max(e["client_ts"] for e in EVENTS)


def build_lake(lake: Path) -> Settings:
    """Write the tables above under ``lake`` and return settings pointing at it."""
    lake.mkdir(parents=True, exist_ok=True)
    upd = NOW - timedelta(minutes=1)
    _write(lake, "title_daily", [
        dict(video_id=v, date=day(n), views=views, unique_viewers=uv, watch_time_s=w, completions=c,
             completion_rate=c / views, avg_share_watched=0.5, dropoff=d, updated_at=upd)
        for v, n, views, uv, w, c, d in TITLE_DAILY_ROWS])
    _write(lake, "playback_quality", [
        dict(date=day(n), rung=r, device=dev, startups=st, startup_ms_p50=p50, startup_ms_p95=p95, played_s=ps,
             rebuffers=rb, rebuffer_ms=rms, rebuffer_ratio=rms / (rms + 1000 * ps), updated_at=upd)
        for n, r, dev, st, p50, p95, ps, rb, rms in QUALITY_ROWS])
    _write(lake, "events", EVENTS)
    _write(lake, "quarantine", [
        dict(kind=k, reason=r, event_id=None, value="{}", topic="video_events", partition=0, offset=i,
             kafka_ts=NOW - timedelta(hours=1), batch_id=3, quarantine_date=(NOW - timedelta(hours=1)).date())
        for i, (k, r) in enumerate(QUARANTINE_ROWS)])
    _write(lake, "sessions", [
        dict(session_id=f"s{i}", user_id=f"u{i}", video_id=VIDEO_A, device="web", country="FR",
             started_at=_ts(TODAY, 8), last_event_at=_ts(TODAY, 9), played_s=100.0 * i, events=3,
             completed=i % 2 == 0, startup_ms=300, rebuffers=0, rebuffer_ms=0, seeks=0, switches=0)
        for i in range(3)])
    _write(lake, "sessions", [dict(session_id="s9", user_id="u9", video_id=VIDEO_B, started_at=_ts(TODAY, 9))],
           mode="append")                                          # sessions: 4 rows, Delta version 1
    _write(lake, "titles", [dict(video_id=v, title=t, status="ready", duration_s=600.0, regions=[], renditions=3,
                                 top_height=720, created_at=_ts(day(30)), ready_at=_ts(day(30)),
                                 catalog_updated_at=_ts(day(30)), synced_at=upd) for v, t in TITLE_NAMES.items()])
    return load({**os.environ, "VODFLOW_LAKE_URI": str(lake)})


def require_reader_feature(table_dir: Path, feature: str = "deletionVectors") -> None:
    """Commit a protocol upgrade that makes ``to_pyarrow_dataset`` refuse the table (like a Spark table
    with deletion vectors enabled); the data stays readable through delta-rs' own engine."""
    log = table_dir / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    (log / f"{version:020d}.json").write_text(
        json.dumps({"commitInfo": {"timestamp": int(NOW.timestamp() * 1000), "operation": "SET TBLPROPERTIES"}})
        + "\n" + json.dumps({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": [feature],
                                          "writerFeatures": [feature]}}) + "\n")
