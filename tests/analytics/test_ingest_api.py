"""``POST /events`` with a real Kafka (a private topic), and with Kafka down (no service needed)."""

from __future__ import annotations

import json
import os
import socket
import uuid

import pytest
from eventkit import make_event
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vodflow.analytics.ingest_api import create_router
from vodflow.settings import load


def app_for(settings, **kw) -> FastAPI:
    app = FastAPI()
    app.include_router(create_router(settings, **kw))
    return app


@pytest.fixture(scope="module")
def client(events_topic_settings):
    with TestClient(app_for(events_topic_settings, max_batch=50)) as c:
        yield c


def consume(settings, n_expected: int, timeout_ms: int = 8000):
    from vodflow.clients import kafka_consumer

    c = kafka_consumer(settings.topic_events, settings=settings, group_id=None, consumer_timeout_ms=timeout_ms)
    out = []
    try:
        for msg in c:
            out.append(msg)
            if len(out) >= n_expected:
                # read a little more: nothing else must be there
                c.config["consumer_timeout_ms"] = 1500
    finally:
        c.close()
    return out


def test_single_batch_mixed_and_all_invalid(client, events_topic_settings):
    single = make_event("startup")
    r = client.post("/events", json=single)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": []}

    good = [make_event(t) for t in ("video_started", "video_progress", "bitrate_switch")]
    bad = make_event("video_progress", position_s=-1, event_id="nope")
    r = client.post("/events", json={"events": [good[0], bad, good[1], "junk", good[2]]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3
    assert [x["index"] for x in body["rejected"]] == [1, 3]
    first = body["rejected"][0]
    assert first["event_id"] == "nope"
    assert {e["field"] for e in first["errors"]} == {"event_id", "position_s"}
    assert "position_s" in first["reason"]

    r = client.post("/events", json={"events": [bad, make_event(type="nope")]})
    assert r.status_code == 422
    assert r.json()["accepted"] == 0 and len(r.json()["rejected"]) == 2
    assert "unknown event type 'nope'" in r.json()["rejected"][1]["reason"]

    r = client.post("/events", json=make_event("video_paused", country="France"))
    assert r.status_code == 422 and r.json()["rejected"][0]["errors"][0]["field"] == "country"

    msgs = consume(events_topic_settings, 4)
    got = {json.loads(m.value)["event_id"]: m for m in msgs}
    assert set(got) == {single["event_id"], *(g["event_id"] for g in good)}
    for raw in [single, *good]:
        m = got[raw["event_id"]]
        assert m.key == raw["session_id"].encode()
        value = json.loads(m.value)
        assert value["server_ts"] and value["type"] == raw["type"]
        assert dict(m.headers)["schema"] == b"vodflow.video_event/1"


def test_same_session_lands_in_one_partition_in_order(client, events_topic_settings):
    sid = str(uuid.uuid4())
    evs = [make_event("video_progress", session_id=sid, position_s=10.0 * i) for i in range(20)]
    assert client.post("/events", json={"events": evs}).json()["accepted"] == 20
    msgs = [m for m in consume(events_topic_settings, 24) if m.key == sid.encode()]
    assert len({m.partition for m in msgs}) == 1
    assert [json.loads(m.value)["position_s"] for m in msgs] == [10.0 * i for i in range(20)]


def test_request_shape_errors(client):
    r = client.post("/events", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    assert client.post("/events", json=[make_event()]).status_code == 422
    assert client.post("/events", json={"events": []}).json()["detail"] == "'events' is empty"
    assert client.post("/events", json={"events": {}}).status_code == 422
    assert "unexpected: extra" in client.post("/events", json={"events": [make_event()], "extra": 1}).json()["detail"]
    r = client.post("/events", json={"events": [make_event() for _ in range(51)]})
    assert r.status_code == 413 and "at most 50" in r.json()["detail"]


def test_body_size_limit(events_topic_settings):
    with TestClient(app_for(events_topic_settings, max_body_bytes=1000)) as c:
        r = c.post("/events", json={"events": [make_event() for _ in range(5)]})
    assert r.status_code == 413


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kafka_down_is_503_with_reason():
    s = load({**os.environ, "VODFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}"})
    with TestClient(app_for(s, kafka_timeout=2.0)) as c:
        r = c.post("/events", json={"events": [make_event(), make_event("video_paused", position_s=-3)]})
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert "Kafka is unavailable" in r.json()["detail"] and r.json()["accepted"] == 0
        # invalid-only batches are still answered 422 without touching Kafka
        assert c.post("/events", json=make_event(type="bad")).status_code == 422
        # and the producer is rebuilt for the next request (still down: 503 again, not a crash)
        assert c.post("/events", json=make_event()).status_code == 503


def test_included_in_the_platform_api(events_topic_settings, tmp_path):
    """The 2-line include in vodflow.api.app works: the router's lifespan merges with the app's."""
    from vodflow.api.app import create_app

    s = load({**os.environ, "VODFLOW_TOPIC_EVENTS": events_topic_settings.topic_events,
              "VODFLOW_CATALOG_DB_URL": f"sqlite:///{tmp_path / 'catalog.db'}"})
    app = create_app(s)
    app.include_router(create_router(s))
    with TestClient(app) as c:
        assert c.post("/events", json=make_event()).json() == {"accepted": 1, "rejected": []}
        assert app.state.event_producer._producer is not None
    assert app.state.event_producer._producer is None  # closed on shutdown
