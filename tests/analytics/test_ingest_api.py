"""``POST /events`` with a real Kafka (a private topic), and with Kafka down (no service needed).

Requests carry the access token of the viewer ``user-1`` (``make_event``'s user_id), an account in a
private catalog DB; a viewer may post only its own events, admins and service tokens anyone's.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from types import SimpleNamespace

import pytest
from authkit import headers_for, make_user
from eventkit import make_event
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vodflow.analytics.routes import create_router
from vodflow.settings import load


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """A private catalog with the viewer ``user-1`` and an admin; their ``Authorization`` headers."""
    url = f"sqlite:///{tmp_path_factory.mktemp('accounts') / 'catalog.db'}"
    s = load({**os.environ, "VODFLOW_CATALOG_DB_URL": url})
    viewer, admin = make_user(s, user_id="user-1", country="FR"), make_user(s, role="admin")
    return SimpleNamespace(url=url, settings=s, viewer=headers_for(s, viewer), admin=headers_for(s, admin))


def app_for(settings, accounts, **kw) -> FastAPI:
    app = FastAPI()
    app.include_router(create_router(load({**settings.values, "VODFLOW_CATALOG_DB_URL": accounts.url}), **kw))
    return app


@pytest.fixture(scope="module")
def client(events_topic_settings, accounts):
    with TestClient(app_for(events_topic_settings, accounts, max_batch=50), headers=accounts.viewer) as c:
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


def test_body_size_limit(events_topic_settings, accounts):
    with TestClient(app_for(events_topic_settings, accounts, max_body_bytes=1000), headers=accounts.viewer) as c:
        r = c.post("/events", json={"events": [make_event() for _ in range(5)]})
    assert r.status_code == 413


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kafka_down_is_503_with_reason(accounts):
    s = load({**os.environ, "VODFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{_closed_port()}"})
    with TestClient(app_for(s, accounts, kafka_timeout=2.0), headers=accounts.viewer) as c:
        r = c.post("/events", json={"events": [make_event(), make_event("video_paused", position_s=-3)]})
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert "Kafka is unavailable" in r.json()["detail"] and r.json()["accepted"] == 0
        # invalid-only batches are still answered 422 without touching Kafka
        assert c.post("/events", json=make_event(type="bad")).status_code == 422
        # and the producer is rebuilt for the next request (still down: 503 again, not a crash)
        assert c.post("/events", json=make_event()).status_code == 503


def test_included_in_the_platform_api(events_topic_settings, accounts):
    """The 2-line include in vodflow.api.app works: the router's lifespan merges with the app's."""
    from vodflow.api.app import create_app

    s = load({**os.environ, "VODFLOW_TOPIC_EVENTS": events_topic_settings.topic_events,
              "VODFLOW_CATALOG_DB_URL": accounts.url})
    app = create_app(s)
    app.include_router(create_router(s))
    with TestClient(app, headers=accounts.viewer) as c:
        assert c.post("/events", json=make_event()).json() == {"accepted": 1, "rejected": []}
        assert app.state.event_producer._producer is not None
    assert app.state.event_producer._producer is None  # closed on shutdown


def test_viewers_post_only_their_own_events(events_topic_settings, accounts):
    """Another user's event in a batch: 403 naming it, nothing produced; no token: 401; admins and
    service tokens post for anyone."""
    from vodflow.auth.tokens import issue_service_token

    app = app_for(events_topic_settings, accounts)
    mine, theirs = make_event("video_started"), make_event("video_progress", user_id="user-2")
    with TestClient(app) as c:
        r = c.post("/events", json={"events": [mine, theirs]}, headers=accounts.viewer)
        assert r.status_code == 403
        assert "event 1 has user_id 'user-2'" in r.json()["detail"] and "'user-1'" in r.json()["detail"]
        r = c.post("/events", json=mine)
        assert r.status_code == 401 and "POST /auth/login" in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/events", json={"events": [theirs]}, headers=accounts.admin).json()["accepted"] == 1
        service = {"Authorization": f"Bearer {issue_service_token(accounts.settings, 'test-gateway')}"}
        other = make_event("video_paused", user_id="user-3")
        assert c.post("/events", json=other, headers=service).json()["accepted"] == 1
    got = {json.loads(m.value)["event_id"] for m in consume(events_topic_settings, 10_000, timeout_ms=3000)}
    assert {theirs["event_id"], other["event_id"]} <= got
    assert mine["event_id"] not in got  # the refused batch left nothing on the topic
