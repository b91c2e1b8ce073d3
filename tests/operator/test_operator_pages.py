"""The operator app in-process (FastAPI TestClient) over a real SQLite catalog and a real Delta lake in a
temporary folder: no service is needed. The retry against the stack's Airflow is in test_retry_stack.py;
Airflow's login in front of it in tests/plugins/; the page inside the Airflow UI in tests/web/."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from apikit import settings_with  # noqa: E402
from catalogkit import REASON, add_ready  # noqa: E402

REJECTED = "rejected [audio_only]: The file has sound but no picture (an audio-only opus file)."


@pytest.fixture()
def env(tmp_path):
    from vodflow.catalog import Catalog
    from vodflow.operator.app import create_app

    s = settings_with(VODFLOW_CATALOG_DB_URL=f"sqlite:///{tmp_path / 'catalog.db'}",
                      VODFLOW_LAKE_URI=str(tmp_path / "lake"))
    cat = Catalog(s.catalog_db_url)
    ready = add_ready(cat, "Operator clip", 12.5)
    bad = cat.create_video("Audio only", "masters/a/original.mp4")
    cat.start_processing(bad.id, "manual__bad")
    cat.mark_failed(bad.id, REJECTED)
    odd = cat.create_video("Odd reason", "masters/o/original.mp4")
    cat.mark_failed(odd.id, REASON)
    busy = cat.create_video("Busy", "masters/b/original.mp4")
    cat.start_processing(busy.id, "manual__busy")
    return s, TestClient(create_app(s)), {"ready": ready, "bad": bad.id, "odd": odd.id, "busy": busy.id}


def test_list_page_shows_every_status_with_reasons_and_links(env):
    s, client, ids = env
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for title in ("Operator clip", "Audio only", "Odd reason", "Busy"):
        assert title in r.text
    assert "rejected [audio_only]: The file has sound but no picture" in r.text
    assert "href='/dags/video_ingest/runs/manual__bad' target='_top' data-airflow" in r.text
    assert f"href='{s.api_url.rstrip('/')}/watch/{ids['ready']}'" in r.text  # only ready titles play
    assert f"/watch/{ids['bad']}" not in r.text
    failed = client.get("/?status=failed").text
    assert "Audio only" in failed and "Operator clip" not in failed
    r = client.get("/?status=gone")
    assert r.status_code == 422 and "one of uploaded, processing, ready, failed" in r.json()["detail"]


def test_json_rows_are_the_operator_view_with_split_reasons(env):
    _, client, ids = env
    rows = {t["id"]: t for t in client.get("/api/titles").json()["titles"]}
    assert set(ids.values()) <= set(rows)
    bad = rows[ids["bad"]]
    assert bad["reason"] == {"kind": "rejected", "code": "audio_only",
                             "text": "The file has sound but no picture (an audio-only opus file)."}
    assert bad["source_key"] == "masters/a/original.mp4" and bad["ingest_attempts"] == 1  # operator-only fields
    assert rows[ids["odd"]]["reason"] == {"kind": "", "code": "", "text": REASON}
    ready = rows[ids["ready"]]
    assert [r["name"] for r in ready["ladder"]["rungs"]] == ["720p", "360p"] and ready["reason"] is None
    assert client.get(f"/api/titles/{uuid.uuid4()}").status_code == 404


def test_title_page_without_plot_or_views(env):
    _, client, ids = env
    r = client.get(f"/titles/{ids['ready']}")
    assert r.status_code == 200
    assert "<h1>Operator clip</h1>" in r.text and "id='ladder'" in r.text and "720p" in r.text
    assert "No rate-quality plot" in r.text
    assert "QoE unavailable" in r.text or "No views" in r.text  # no sessions table in this lake yet
    plot = client.get(f"/titles/{ids['ready']}/rate_quality.png")
    assert plot.status_code == 404 and "only per-title ladders have one" in plot.json()["detail"]
    assert "Retry ingest" not in client.get(f"/titles/{ids['busy']}").text


def test_qoe_is_read_from_the_sessions_table(env):
    from deltalake import write_deltalake

    from vodflow.analytics import tables as T
    from vodflow.analytics.query import arrow_schema

    s, client, ids = env
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    schema = arrow_schema(T.SESSIONS)

    def session(user, completed, startup, rebuffer_ms, played):
        row = {f.name: None for f in schema}
        row.update(session_id=str(uuid.uuid4()), user_id=user, video_id=ids["ready"], started_at=now,
                   last_event_at=now + timedelta(seconds=played), completed=completed, startup_ms=startup,
                   rebuffer_ms=rebuffer_ms, played_s=float(played), duration_s=12.5)
        return row

    import pyarrow as pa

    rows = [session("u1", True, 300, 0, 12), session("u2", False, 500, 1000, 4), session("u1", True, 400, 0, 12)]
    write_deltalake(T.SESSIONS.location(s), pa.Table.from_pylist(rows, schema=schema))
    q = client.get(f"/api/titles/{ids['ready']}").json()["qoe"]
    assert q["views"] == 3 and q["viewers"] == 2
    assert q["completion_rate"] == pytest.approx(2 / 3)
    assert q["startup_ms_p50"] == pytest.approx(400)
    assert q["rebuffer_ratio"] == pytest.approx(1000 / (1000 + 1000 * 28))
    page = client.get(f"/titles/{ids['ready']}").text
    assert "id='qoe'" in page and "66.7 %" in page and "400 ms" in page
    assert client.get(f"/api/titles/{ids['bad']}").json()["qoe"]["views"] == 0


def test_retry_of_a_title_being_ingested_is_refused_with_the_reason(env):
    _, client, ids = env
    r = client.post(f"/titles/{ids['busy']}/retry", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"http://testserver/titles/{ids['busy']}?")
    page = client.get(r.headers["location"]).text
    assert "is being ingested by run manual__busy" in page
    assert client.post(f"/titles/{uuid.uuid4()}/retry").status_code == 404
