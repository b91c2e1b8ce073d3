"""The event model: every type parses, every validation rule refuses with a reason naming the field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from eventkit import make_event

from vodflow.analytics.events import (EVENT_TYPES, MAX_CLIENT_AHEAD, SCHEMA, EventValidationError, MODELS,
                                      parse_kafka_value, validate_event)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def ev(type_="video_progress", **over):
    return make_event(type_, **{"client_ts": (NOW - timedelta(seconds=5)).isoformat(), **over})


def errors(raw, **kw):
    with pytest.raises(EventValidationError) as ei:
        validate_event(raw, now=NOW, **kw)
    return {e["field"]: e["reason"] for e in ei.value.errors}


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_type_parses_and_round_trips(type_):
    e = validate_event(ev(type_), now=NOW, stamp=True)
    assert isinstance(e, MODELS[type_]) and e.type == type_ and e.schema_version == 1
    assert e.server_ts == NOW and e.client_ts.tzinfo is not None
    key, value, headers = e.to_kafka()
    assert key == e.session_id.encode() and ("schema", SCHEMA.encode()) in headers
    assert parse_kafka_value(value) == e
    assert validate_event(value, now=NOW) == e  # JSON text parses the same


def test_normalisation():
    e = validate_event(ev(device=" TV", country="fr", client_ts="2025-06-01T13:59:00+02:00"), now=NOW)
    assert (e.device, e.country) == ("tv", "FR")
    assert e.client_ts == datetime(2025, 6, 1, 11, 59, tzinfo=timezone.utc)


def test_client_server_ts_is_overwritten_by_stamp():
    e = validate_event(ev(server_ts="2020-01-01T00:00:00Z"), now=NOW, stamp=True)
    assert e.server_ts == NOW


@pytest.mark.parametrize("field", ["event_id", "session_id", "video_id"])
def test_bad_uuid(field):
    assert "is not a UUID" in errors(ev(**{field: "not-a-uuid"}))[field]
    assert "must be a UUID string" in errors(ev(**{field: 42}))[field]


def test_negative_and_absurd_position():
    assert "greater than or equal to 0" in errors(ev(position_s=-1))["position_s"]
    assert "less than or equal" in errors(ev(position_s=10 ** 7))["position_s"]
    assert "position_s" in errors(ev(position_s="nan"))


def test_unknown_and_missing_type():
    r = errors(ev(type="video_exploded"))
    assert "unknown event type 'video_exploded'" in r["type"] and "video_progress" in r["type"]
    raw = ev()
    del raw["type"]
    assert errors(raw) == {"type": "the field 'type' is missing"}


def test_schema_version():
    assert "unsupported schema_version 2" in errors(ev(schema_version=2))["schema_version"]
    raw = ev()
    del raw["schema_version"]
    assert errors(raw) == {"schema_version": "this field is required"}


def test_client_ts_future_past_and_naive():
    ahead = NOW + MAX_CLIENT_AHEAD + timedelta(minutes=1)
    assert "ahead of the server clock" in errors(ev(client_ts=ahead.isoformat()))["client_ts"]
    # within the skew tolerance: accepted
    validate_event(ev(client_ts=(NOW + MAX_CLIENT_AHEAD - timedelta(seconds=1)).isoformat()), now=NOW)
    assert "older than 7 days" in errors(ev(client_ts=(NOW - timedelta(days=8)).isoformat()))["client_ts"]
    assert "UTC offset" in errors(ev(client_ts="2025-06-01T11:59:00"))["client_ts"]
    assert "client_ts" in errors(ev(client_ts="yesterday"))


def test_device_country_rung_user():
    r = errors(ev(device="xbox", country="FRA", rung="7 20p", user_id=""))
    assert "not one of web, ios, android, tv, other" in r["device"]
    assert "ISO 3166-1 alpha-2" in r["country"]
    assert "not a rung name" in r["rung"]
    assert "user_id" in r


def test_unknown_field_is_an_error():
    assert errors(ev(postion_s=3)) == {"postion_s": "unknown field (not part of schema_version 1)"}


def test_missing_common_field():
    raw = ev()
    del raw["session_id"]
    assert errors(raw) == {"session_id": "this field is required"}


def test_type_specific_rules():
    assert errors(ev("startup", startup_ms=-5))["startup_ms"]
    assert errors(ev("startup", startup_ms=None))["startup_ms"]
    assert errors(ev("rebuffer_end", duration_ms=-1))["duration_ms"]
    r = errors({k: v for k, v in ev("rebuffer_end").items() if k != "duration_ms"})
    assert r == {"duration_ms": "this field is required"}
    assert "must move" in errors(ev("video_seek", from_position_s=5, to_position_s=5))["event"]
    assert "to_position_s" in errors(ev("video_seek", to_position_s=-3))
    assert "must change rung" in errors(ev("bitrate_switch", from_rung="720p", to_rung="720p"))["event"]
    assert "not a rung name" in errors(ev("bitrate_switch", to_rung="!"))["to_rung"]
    assert "played_s" in errors(ev("video_progress", played_s=0))
    # a field of another type is unknown here
    assert "startup_ms" in errors(ev("video_paused", startup_ms=3))


def test_not_an_object_and_not_json():
    assert "must be a JSON object" in errors([1, 2])["event"]
    assert errors(b"{nope") == {"event": "not valid JSON"}


def test_several_reasons_at_once():
    r = errors(ev(event_id="x", position_s=-2, country="1"))
    assert set(r) == {"event_id", "position_s", "country"}


def test_json_wire_form_is_iso_utc():
    e = validate_event(ev(), now=NOW, stamp=True)
    data = json.loads(e.to_json())
    assert data["client_ts"].endswith("Z") and data["server_ts"] == "2025-06-01T12:00:00Z"
    assert data["device"] == "web"


def test_spark_schema_covers_every_model_field():
    pytest.importorskip("pyspark")
    from vodflow.analytics.spark_schema import FIELDS, ddl, event_schema

    names = [f[0] for f in FIELDS]
    model_fields = set().union(*(m.model_fields for m in MODELS.values()))
    assert set(names) == model_fields and len(names) == len(set(names))
    st = event_schema()
    assert st.fieldNames() == names and all(f.nullable for f in st.fields)
    assert not event_schema(all_nullable=False)["event_id"].nullable
    assert "client_ts TIMESTAMP NOT NULL" in ddl()
