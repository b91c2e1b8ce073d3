"""The Spark validation of the stream agrees with the pydantic model of the API, event by event
(no Kafka needed: the records are given to the same function the stream uses)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from vodflow.analytics.events import EventValidationError, validate_event
from vodflow.analytics.simulate import simulate_sessions


def spark_check(spark, values: list[str], received: datetime):
    from vodflow.analytics.validate_spark import parse_and_check

    df = spark.createDataFrame([(i, v, received) for i, v in enumerate(values)],
                               "i int, value string, kafka_ts timestamp")
    return {r["i"]: r for r in parse_and_check(df).collect()}


def python_ok(value: str, now: datetime) -> bool:
    try:
        validate_event(value, now=now)
        return True
    except EventValidationError:
        return False


def test_agrees_with_the_api_model_on_simulated_events(spark):
    now = datetime.now(timezone.utc)
    sim = simulate_sessions(12, 20, [str(uuid.uuid4()) for _ in range(5)], seed=3, malformed_rate=0.08)
    values = [e if isinstance(e, str) else json.dumps(e) for e in sim.events]
    got = spark_check(spark, values, now)
    disagree = [(values[i], got[i]["reasons"]) for i in range(len(values))
                if python_ok(values[i], now) != (got[i]["kind"] is None)]
    assert not disagree, disagree[:5]
    assert sum(got[i]["kind"] is not None for i in got) == sim.malformed > 0


def base(**kw):
    ev = {"schema_version": 1, "type": "video_paused", "event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()),
          "user_id": "u-1", "video_id": str(uuid.uuid4()), "client_ts": "2026-01-01T10:00:00Z", "position_s": 3.5,
          "rung": "720p", "device": "Web", "country": "fr"}
    ev.update(kw)
    return ev


CASES = [
    ("not json at all", "malformed", "not a JSON object"),
    ("[1, 2]", "malformed", "not a JSON object"),
    (base(position_s="abc"), "malformed", "wrong JSON type"),
    (base(position_s=-1), "invalid", "position_s"),
    (base(type="video_rewind"), "invalid", "unknown event type 'video_rewind'"),
    (base(postion_s=3), "invalid", "unknown field(s) (not part of schema_version 1): postion_s"),
    (base(client_ts="2026-01-01T10:00:00"), "invalid", "client_ts: must carry a UTC offset"),
    (base(event_id="123"), "invalid", "event_id: is not a UUID"),
    (base(country="France"), "invalid", "country"),
    (base(played_s=10), "invalid", "played_s: unknown field for this event type"),
    (base(type="startup"), "invalid", "startup_ms: this field is required"),
    (base(type="bitrate_switch", from_rung="720p", to_rung="720p"), "invalid", "must change rung"),
    (base(schema_version=2), "invalid", "schema_version"),
]


def test_each_rule_names_the_reason(spark):
    raws = [ev if isinstance(ev, str) else json.dumps(ev) for ev, _, _ in CASES]
    got = spark_check(spark, raws, datetime(2026, 1, 1, 10, 1, tzinfo=timezone.utc))
    for i, (_, kind, needle) in enumerate(CASES):
        r = got[i]
        assert r["kind"] == kind and any(needle in x for x in r["reasons"]), (raws[i], r["reasons"])


def test_good_event_is_normalised(spark):
    ev = base(type="video_progress")
    r = spark_check(spark, [json.dumps(ev)], datetime(2026, 1, 1, 10, 1, tzinfo=timezone.utc))[0]
    assert r["kind"] is None and r["reasons"] == []
    e = r["e"]
    assert (e["device"], e["country"], e["played_s"]) == ("web", "FR", 10.0)  # defaults as the API applies them
    assert e["server_ts"] is not None  # Kafka time when produced without the API


def test_records_off_the_usual_path_agree_with_the_api_model(spark):
    """The rules answer key questions (unknown fields, a field sent for the wrong type) from the parsed
    values when every key parsed to a value; these records take the exact path instead: a null value
    (played_s null on a progress event is an error, not the default), a repeated key, a key differing
    only in case, and one with both an unknown key and a null value."""
    now = datetime(2026, 1, 1, 10, 1, tzinfo=timezone.utc)
    good = json.dumps(base())
    values = [json.dumps(base(played_s=None)), json.dumps(base(type="video_progress", played_s=None)),
              json.dumps(base(rung=None)), good[:-1] + ', "device": "tv"}',
              json.dumps({**base(), "EVENT_ID": str(uuid.uuid4())}), json.dumps({**base(rung=None), "extra": 1}),
              good]
    got = spark_check(spark, values, now)
    verdicts = [(values[i], python_ok(values[i], now), got[i]["reasons"]) for i in range(len(values))]
    assert all(ok == (not reasons) for _, ok, reasons in verdicts), verdicts
    assert verdicts[-1][1] and not all(ok for _, ok, _ in verdicts)  # both kinds are exercised
    assert any("unknown field(s)" in x and "EVENT_ID" in x for x in got[4]["reasons"]), got[4]["reasons"]
    assert any("played_s: must be a number" in x for x in got[1]["reasons"]), got[1]["reasons"]
