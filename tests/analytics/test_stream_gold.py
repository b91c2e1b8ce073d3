"""The analytics stream against real Kafka, Spark and Delta, with hand-computed gold values.

A scripted set of sessions (durations 100 s and 200 s) with duplicates, malformed records, a late
event inside the watermark and one beyond it, delivered in two rounds with an ``availableNow``
catch-up after each; every expected number below is computed by hand from the script.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from vodflow.analytics import stream
from vodflow.analytics import tables as T
from vodflow.settings import load

from eventkit import fresh_topic

A, B = str(uuid.uuid4()), str(uuid.uuid4())
HOUR = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
T0 = HOUR + timedelta(minutes=10)


def ev(type_, sid, user, video, at, pos, rung, device, duration, **kw):
    e = {"schema_version": 1, "type": type_, "event_id": str(uuid.uuid4()), "session_id": sid, "user_id": user,
         "video_id": video, "client_ts": (T0 + timedelta(seconds=at)).isoformat(), "position_s": pos,
         "duration_s": duration, "rung": rung, "device": device, "country": "US"}
    e.update(kw)
    return e


def session(user, video, duration, rung, device, start, startup_ms, progress, tail=()):
    sid = str(uuid.uuid4())
    out = [ev("startup", sid, user, video, start, 0, rung, device, duration, startup_ms=startup_ms),
           ev("video_started", sid, user, video, start + 1, 0, rung, device, duration)]
    for i in range(1, progress + 1):
        out.append(ev("video_progress", sid, user, video, start + 1 + 10 * i, 10.0 * i, rung, device, duration,
                      played_s=10.0))
    for type_, at, pos, kw in tail:
        out.append(ev(type_, sid, user, video, start + at, pos, rung, device, duration, **kw))
    return sid, out


# s1: u1 watches all of A (100 s) on web/720p and completes it
S1, s1 = session("u1", A, 100.0, "720p", "web", 0, 800, 10, [("video_completed", 102, 100.0, {})])
# s2: u2, A, tv/480p: 30 s, one 2 s stall, pauses at 30 s and leaves (drop-off bucket 6 = 30 %)
S2, s2 = session("u2", A, 100.0, "480p", "tv", 60, 1200, 3,
                 [("rebuffer_start", 25, 20.0, {}), ("rebuffer_end", 27, 20.0, {"duration_ms": 2000}),
                  ("video_paused", 40, 30.0, {})])
# s3: u1, B (200 s), web/720p: 50 s, seeks 50 → 150, 10 s more, leaves at 160 s (bucket 16)
S3, s3 = session("u1", B, 200.0, "720p", "web", 120, 1000, 5,
                 [("video_seek", 60, 150.0, {"from_position_s": 50.0, "to_position_s": 150.0}),
                  ("video_progress", 71, 160.0, {"played_s": 10.0})])
# round 2: s4 (u3, B, android/360p) arrives late but inside the 10 min watermark: counted
S4, s4 = session("u3", B, 200.0, "360p", "android", 30, 500, 1)
# round 2: s5 is 20 minutes older than the newest event: beyond the watermark, quarantined
S5, s5 = session("u4", A, 100.0, "720p", "web", -20 * 60, 700, 2)

MALFORMED = ["this is not json", json.dumps({**s1[3], "position_s": -5, "event_id": str(uuid.uuid4())}),
             json.dumps({**s2[3], "type": "video_rewind", "event_id": str(uuid.uuid4())})]
ROUND1 = [json.dumps(e) for e in s1 + s2 + s3] + [json.dumps(s1[4]), json.dumps(s2[0])] + MALFORMED
ROUND2 = [json.dumps(e) for e in s4 + s5] + [json.dumps(s1[-1])]   # + a resend of s1's completion


@pytest.fixture(scope="module", params=["local", "spark"])
def lake(request, tmp_path_factory, kafka_settings, spark):
    """Both writers of a batch: delta-rs from the driver (small batches, the default) and Spark's
    (``VODFLOW_EVENTS_LOCAL_ROWS=0``) - every hand-computed value holds for each."""
    with fresh_topic(kafka_settings) as topic:
        yield from _lake(tmp_path_factory, topic, spark, "20000" if request.param == "local" else "0")


def _lake(tmp_path_factory, events_topic_settings, spark, local_rows):
    root = tmp_path_factory.mktemp("lake")
    s = load({**os.environ, "VODFLOW_TOPIC_EVENTS": events_topic_settings.topic_events,
              "VODFLOW_LAKE_URI": str(root), "VODFLOW_EVENTS_LATENESS": "10 minutes",
              "VODFLOW_EVENTS_LOCAL_ROWS": local_rows})
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")

    def produce(records):
        for r in records:
            try:
                key = json.loads(r)["session_id"].encode()
            except (ValueError, KeyError, TypeError):
                key = None
            p.send(s.topic_events, key=key, value=r.encode())
        p.flush()

    produce(ROUND1)
    stream.run_available_now(spark, s)
    first = {t: spark.read.format("delta").load(T.TABLES[t].location(s)).count()
             for t in ("bronze_events", "events", "quarantine")}
    produce(ROUND2)
    stream.run_available_now(spark, s)
    p.close()
    yield s, first


def read(spark, s, name):
    return spark.read.format("delta").load(T.TABLES[name].location(s))


def test_bronze_keeps_every_record_and_silver_dedups(spark, lake):
    s, first = lake
    assert first == {"bronze_events": len(ROUND1), "events": len(s1) + len(s2) + len(s3), "quarantine": 3}
    assert read(spark, s, "bronze_events").count() == len(ROUND1) + len(ROUND2)
    ev_ = read(spark, s, "events")
    assert ev_.count() == len(s1) + len(s2) + len(s3) + len(s4)          # duplicates counted once
    assert ev_.select("event_id").distinct().count() == ev_.count()


def test_malformed_and_late_records_are_quarantined_with_reasons(spark, lake):
    s, _ = lake
    q = {(r["kind"], r["reason"].split(":")[0]) for r in read(spark, s, "quarantine").collect()}
    rows = read(spark, s, "quarantine").collect()
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["invalid", "invalid"] + ["late"] * len(s5) + ["malformed"], q
    reasons = " | ".join(r["reason"] for r in rows)
    assert "event: not a JSON object" in reasons and "position_s" in reasons and "video_rewind" in reasons
    late = [r for r in rows if r["kind"] == "late"]
    assert {json.loads(r["value"])["session_id"] for r in late} == {S5}
    assert all("older than the watermark" in r["reason"] for r in late)
    assert all(r["value"] and r["offset"] is not None for r in rows)      # the raw record is kept


def test_title_hourly_matches_the_hand_computed_values(spark, lake):
    s, _ = lake
    rows = {r["video_id"]: r for r in read(spark, s, "title_hourly").collect()}
    assert set(rows) == {A, B}
    a, b = rows[A], rows[B]
    assert a["hour"].astimezone(timezone.utc) == HOUR
    assert (a["views"], a["unique_viewers"], a["watch_time_s"], a["completions"]) == (2, 2, 130.0, 1)
    assert a["completion_rate"] == pytest.approx(0.5)
    assert a["avg_share_watched"] == pytest.approx((1.0 + 0.3) / 2)
    assert a["dropoff"] == [0] * 6 + [1] + [0] * 13
    assert (b["views"], b["unique_viewers"], b["watch_time_s"], b["completions"]) == (2, 2, 70.0, 0)
    assert b["avg_share_watched"] == pytest.approx((60 / 200 + 10 / 200) / 2)
    assert b["dropoff"] == [0, 1] + [0] * 14 + [1] + [0] * 3                # s4 at 5 %, s3 at 80 %
    daily = {r["video_id"]: r for r in read(spark, s, "title_daily").collect()}
    if HOUR.date() == (HOUR + timedelta(minutes=30)).date():
        assert (daily[A]["views"], daily[B]["views"], daily[B]["watch_time_s"]) == (2, 2, 70.0)


def test_sessions_and_user_title(spark, lake):
    s, _ = lake
    sess = {r["session_id"]: r for r in read(spark, s, "sessions").collect()}
    assert set(sess) == {S1, S2, S3, S4}
    assert (sess[S3]["max_position_s"], sess[S3]["last_position_s"], sess[S3]["seeks"]) == (160.0, 160.0, 1)
    assert (sess[S2]["rebuffers"], sess[S2]["rebuffer_ms"], sess[S2]["last_position_s"]) == (1, 2000, 30.0)
    assert sess[S1]["completed"] and sess[S1]["events"] == len(s1)
    ut = {(r["user_id"], r["video_id"]): r for r in read(spark, s, "user_title").collect()}
    assert set(ut) == {("u1", A), ("u1", B), ("u2", A), ("u3", B)}
    assert (ut[("u1", A)]["watch_fraction"], ut[("u1", A)]["completed"]) == (1.0, True)
    assert ut[("u1", B)]["watch_fraction"] == pytest.approx(0.3) and not ut[("u1", B)]["completed"]
    assert ut[("u3", B)]["watch_fraction"] == pytest.approx(0.05)


def test_playback_quality(spark, lake):
    s, _ = lake
    q = {(r["rung"], r["device"]): r for r in read(spark, s, "playback_quality").collect()}
    web = q[("720p", "web")]
    assert (web["startups"], web["startup_ms_p50"], web["startup_ms_p95"]) == (2, 900.0, pytest.approx(990.0))
    assert web["played_s"] == 160.0 and web["rebuffer_ratio"] == 0.0
    tv = q[("480p", "tv")]
    assert (tv["startups"], tv["startup_ms_p50"], tv["rebuffers"], tv["rebuffer_ms"]) == (1, 1200.0, 1, 2000)
    assert tv["rebuffer_ratio"] == pytest.approx(2000 / (2000 + 30_000))
    assert q[("360p", "android")]["startups"] == 1 and q[("360p", "android")]["played_s"] == 10.0


def test_a_second_catch_up_changes_nothing(spark, lake):
    s, _ = lake
    before = {t: read(spark, s, t).count() for t in T.TABLES}
    gold_before = sorted(map(tuple, read(spark, s, "title_hourly").drop("updated_at").collect()))
    stream.run_available_now(spark, s)
    assert {t: read(spark, s, t).count() for t in before} == before
    assert sorted(map(tuple, read(spark, s, "title_hourly").drop("updated_at").collect())) == gold_before


def test_tables_are_registered_for_spark_sql(spark, lake):
    s, _ = lake
    T.register(spark, s)
    n = spark.sql("SELECT sum(views) AS v FROM vodflow.title_hourly").first()["v"]
    assert n == 4


def test_user_title_changes_announce_retraining(spark, lake):
    """recs_training is started by an asset event only once enough user-title rows changed (Delta log)."""
    from deltalake import DeltaTable

    from vodflow.recs.retrain_trigger import decide

    s, _ = lake
    path = T.USER_TITLE.location(s)
    version = DeltaTable(path).version()
    first = decide(path, None, threshold=4)
    assert first.announce and first.version == version
    assert first.changed_rows >= 4                                  # 4 (user, title) rows were written
    assert first.extra() == {"version": version, "since_version": None, "changed_rows": first.changed_rows}
    again = decide(path, version, threshold=1)
    assert not again.announce and "no commit since" in again.reason
    few = decide(path, None, threshold=10**9)
    assert not few.announce and "VODFLOW_RECS_RETRAIN_MIN_CHANGES" in few.reason
    missing = decide(str(s.table_path("gold/does_not_exist")), None, threshold=1)
    assert not missing.announce and missing.version is None and "does not exist" in missing.reason
