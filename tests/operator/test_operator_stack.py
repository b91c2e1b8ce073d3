"""The operator app in-process against the shared stack: the plot is read from the origin bucket, the
retry starts a real video_ingest run through Airflow's REST API."""

from __future__ import annotations

import html
import uuid

import pytest
from fastapi.testclient import TestClient

from operatorkit import published_title

pytestmark = [pytest.mark.stack]


@pytest.fixture(scope="module")
def client(stack):
    from vodflow.operator.app import create_app

    return TestClient(create_app(stack))


def test_title_page_shows_the_published_ladder_and_serves_its_plot(stack, client):
    rec = published_title(stack, demo_only=False)
    page = client.get(f"/titles/{rec.id}").text
    assert f"<h1>{html.escape(rec.title)}</h1>" in page and "id='rate-quality'" in page
    for r in rec.renditions:
        assert f"<td>{r.name}</td>" in page
    png = client.get(f"/titles/{rec.id}/rate_quality.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 5000
    assert f"/watch/{rec.id}" in client.get("/?status=ready").text


def test_retry_starts_a_video_ingest_run_in_airflow(stack, client):
    """A failed title (its master is gone, so the new run fails again with the reason) is queued again."""
    from vodflow import catalog
    from vodflow.airflow_client import AirflowClient

    vid = str(uuid.uuid4())
    catalog.create_video("Operator retry test (no master)", f"masters/{vid}/original.mp4", video_id=vid)
    catalog.mark_failed(vid, "failed [publish_failed]: a test title")
    r = client.post(f"/titles/{vid}/retry", follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "started video_ingest run operator_retry__" + vid in page, page
    run_id = page.split("started video_ingest run ", 1)[1].split(" ", 1)[0]
    assert AirflowClient(stack).run_state("video_ingest", run_id) in ("queued", "running", "failed", "success")
