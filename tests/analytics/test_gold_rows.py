"""The gold rows of a batch (vodflow.analytics.gold_rows): DuckDB on Arrow, hand-computed values, no lake."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from vodflow.analytics import gold_rows as R
from vodflow.analytics import tables as T

H = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def sessions(*rows):
    cols = ("session_id", "user_id", "video_id", "started_at", "prev_started_at", "played_s", "duration_s",
            "completed", "last_position_s", "last_event_at")
    return pa.table({c: [r.get(c) for r in rows] for c in cols},
                    schema=pa.schema([("session_id", pa.string()), ("user_id", pa.string()),
                                      ("video_id", pa.string()), ("started_at", pa.timestamp("us", "UTC")),
                                      ("prev_started_at", pa.timestamp("us", "UTC")), ("played_s", pa.float64()),
                                      ("duration_s", pa.float64()), ("completed", pa.bool_()),
                                      ("last_position_s", pa.float64()), ("last_event_at", pa.timestamp("us", "UTC"))]))


def s(sid, user, video, start, played, completed=False, last_pos=0.0, duration=100.0, prev=None):
    return {"session_id": sid, "user_id": user, "video_id": video, "started_at": start, "prev_started_at": prev,
            "played_s": played, "duration_s": duration, "completed": completed, "last_position_s": last_pos,
            "last_event_at": start + timedelta(seconds=played)}


# A: three sessions at 10:xx (u1 completes; u2 leaves at 30 %; u1 again leaves at 95 %), one at 11:05
# that a late event moved there from 10:50 (prev_started_at); B: one session at 10:20 with no duration
ALL = sessions(
    s("a1", "u1", "A", H + timedelta(minutes=5), 100.0, completed=True, last_pos=100.0),
    s("a2", "u2", "A", H + timedelta(minutes=10), 30.0, last_pos=30.0),
    s("a3", "u1", "A", H + timedelta(minutes=40), 95.0, last_pos=95.0),
    s("a4", "u3", "A", H + timedelta(hours=1, minutes=5), 10.0, last_pos=10.0, prev=H + timedelta(minutes=50)),
    s("b1", "u2", "B", H + timedelta(minutes=20), 40.0, duration=None, last_pos=40.0))


def test_period_keys_include_the_hour_a_late_event_moved_a_session_out_of():
    touched = ALL.filter(pa.array([False, False, False, True, True]))
    keys = R.period_keys(touched, T.TITLE_HOURLY.name).sort_by([("video_id", "ascending"), ("hour", "ascending")])
    assert keys.to_pylist() == [{"video_id": "A", "hour": H}, {"video_id": "A", "hour": H + timedelta(hours=1)},
                                {"video_id": "B", "hour": H}]
    days = R.period_keys(touched, T.TITLE_DAILY.name).sort_by("video_id").to_pylist()
    assert days == [{"video_id": "A", "date": date(2026, 12, 5)}, {"video_id": "B", "date": date(2026, 12, 5)}]


def test_title_hourly_rows_by_hand():
    keys = pa.table({"video_id": ["A", "A", "C"], "hour": pa.array([H, H + timedelta(hours=1), H],
                                                                   pa.timestamp("us", "UTC"))})
    rows = {(r["video_id"], r["hour"]): r for r in R.title_rows(keys, ALL, T.TITLE_HOURLY.name, NOW).to_pylist()}
    a10 = rows[("A", H)]
    assert (a10["views"], a10["unique_viewers"], a10["watch_time_s"], a10["completions"]) == (3, 2, 225.0, 1)
    assert a10["completion_rate"] == pytest.approx(1 / 3)
    assert a10["avg_share_watched"] == pytest.approx((1.0 + 0.3 + 0.95) / 3)
    drop = [0] * T.DROPOFF_BUCKETS
    drop[6] = 1     # u2 left at 30 %: bucket floor(0.30 * 20) = 6
    drop[19] = 1    # u1's second session left at 95 %: bucket 19
    assert a10["dropoff"] == drop and a10["updated_at"] == NOW
    assert rows[("A", H + timedelta(hours=1))]["views"] == 1
    gone = rows[("C", H)]     # a touched key with no session left: views 0, the MERGE deletes its row
    assert gone["views"] == 0 and gone["unique_viewers"] is None


def test_title_daily_counts_sessions_without_a_duration_but_not_their_share():
    keys = pa.table({"video_id": ["B"], "date": pa.array([date(2026, 12, 5)], pa.date32())})
    (b,) = R.title_rows(keys, ALL, T.TITLE_DAILY.name, NOW).to_pylist()
    assert (b["views"], b["watch_time_s"], b["avg_share_watched"], sum(b["dropoff"])) == (1, 40.0, None, 0)


def test_user_title_rows_from_all_sessions_of_the_touched_pairs():
    touched = ALL.filter(pa.array([True, False, False, False, False]))  # only u1/A was touched
    (r,) = R.user_title_rows(touched, ALL).to_pylist()
    assert (r["user_id"], r["video_id"], r["sessions"], r["watch_time_s"]) == ("u1", "A", 2, 195.0)
    assert r["watch_fraction"] == 1.0 and r["completed"] is True       # least(1, 195 / 100)
    assert r["last_watched"] == H + timedelta(minutes=40, seconds=95)


def test_quality_rows_add_the_batch_and_recompute_exact_startup_percentiles():
    d = date(2026, 12, 5)
    adds = pa.table({"date": pa.array([d], pa.date32()), "rung": ["720p"], "device": ["web"],
                     "played_s": [30.0], "rebuffers": pa.array([1], pa.int64()),
                     "rebuffer_ms": pa.array([2000], pa.int64())})
    startups = pa.table({"event_date": pa.array([d] * 5, pa.date32()), "rung": ["720p"] * 4 + ["480p"],
                         "device": ["web"] * 4 + ["tv"], "startup_ms": pa.array([400, 100, 300, 200, 900], pa.int64())})
    rows = {(r["rung"], r["device"]): r for r in R.quality_rows(adds, startups, NOW).to_pylist()}
    web = rows[("720p", "web")]
    assert (web["startups"], web["played_s"], web["rebuffers"], web["rebuffer_ms"]) == (4, 30.0, 1, 2000)
    assert web["p50"] == 250.0 and web["p95"] == pytest.approx(385.0)   # linear: 100 + 0.95*3*100 ... = 385
    tv = rows[("480p", "tv")]                                             # startups only, nothing to add
    assert (tv["startups"], tv["p50"], tv["played_s"], tv["rebuffers"]) == (1, 900.0, 0.0, 0)


def test_freshness_from_decisecond_counts():
    done = 1_000_000.0
    counts = pa.table({"ds": pa.array([int((done - 0.5) * 10), int((done - 2.35) * 10)], pa.int64()),
                       "n": pa.array([99, 1], pa.int64())})
    p50, p99, mx, hist = R.freshness(counts, done, oldest_epoch_s=done - 2.4)
    assert hist[0] == 99 and hist[2] == 1 and sum(hist) == 100
    assert 0 < p50 < 1 and p99 == pytest.approx(1.0) and mx == 2.4
