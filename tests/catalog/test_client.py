"""The catalog read through the API (vodflow.catalog.client) and `vodflow videos` on a real API server."""

from __future__ import annotations

import threading
import time

import pytest
from catalogkit import REASON, catalog_api
from typer.testing import CliRunner

from vodflow.catalog.client import (CatalogUnavailable, NoReadyTitles, Title, UnknownVideo, follow, get_video,
                                    list_videos, ready_titles)
from vodflow.cli import app  # the real `vodflow` command


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with catalog_api(tmp_path_factory.mktemp("catalog"), {"Big Buck Bunny": 5.32, "Bikes": 10.0}) as a:
        yield a


def test_ready_titles_have_their_true_duration_and_rungs(api):
    titles = ready_titles(api.url)
    assert {t.id: t.duration_s for t in titles} == api.ready
    assert [t.title for t in titles] == ["Bikes", "Big Buck Bunny"]   # newest first
    assert all(t.status == "ready" and t.rungs == ["720p", "360p"] and t.reason is None for t in titles)
    assert {r["status"] for r in list_videos(api.url, token=api.admin_token)} == {"ready", "failed", "uploaded"}
    assert {r["status"] for r in list_videos(api.url)} == {"ready"}          # the public storefront


def test_failed_title_carries_its_reason_and_unknown_ids_name_the_fix(api):
    assert Title.of(get_video(api.url, api.failed, token=api.admin_token)).reason == REASON
    assert Title.of(get_video(api.url, api.failed)).reason is None           # error texts are operator-only
    with pytest.raises(UnknownVideo, match="`vodflow videos` lists the titles"):
        get_video(api.url, "00000000-0000-4000-8000-000000000000")


def test_no_ready_title_and_no_api_are_plain_errors(tmp_path):
    from apikit import free_port

    with catalog_api(tmp_path) as empty:
        with pytest.raises(NoReadyTitles, match="no ready title yet: upload one"):
            ready_titles(empty.url)
    with pytest.raises(CatalogUnavailable, match="not reachable .*`vodflow up`"):
        list_videos(f"http://127.0.0.1:{free_port()}")


def test_follow_reports_each_status_until_final(tmp_path):
    from vodflow.catalog import Catalog

    with catalog_api(tmp_path) as a:
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")

        def ingest() -> None:  # what the video_ingest run does to the row, with the catalog's real transitions
            time.sleep(0.5)
            cat.start_processing(a.uploaded, "run-1")
            time.sleep(0.5)
            cat.mark_failed(a.uploaded, "encode: ffmpeg exited with code 1", run_id="run-1")

        with pytest.raises(TimeoutError, match="still 'uploaded' after 0s.*vodflow videos show"):
            follow(a.url, a.uploaded, timeout=0.3, poll=0.1)
        seen: list[str] = []
        t = threading.Thread(target=ingest)
        t.start()
        rec = follow(a.url, a.uploaded, timeout=30, poll=0.1, on_status=seen.append, token=a.admin_token)
        t.join()
        assert seen == ["uploaded", "processing", "failed"]
        assert rec["status"] == "failed" and rec["error"] == "encode: ffmpeg exited with code 1"


def test_videos_lists_titles_and_show_exits_1_with_the_reason(api):
    r = CliRunner().invoke(app, ["videos", "--api-url", api.url])
    assert r.exit_code == 0, r.output
    for text in ("Big Buck Bunny", "Bikes", "ready", "5.3 s", "720p 360p", "Not a video", "failed",
                 "ffprobe found no video stream", "Waiting", "uploaded"):
        assert text in r.output, text
    r = CliRunner().invoke(app, ["videos", "--status", "ready", "-q", "--api-url", api.url])
    assert r.exit_code == 0 and r.output.split() == [t.id for t in ready_titles(api.url)]
    r = CliRunner().invoke(app, ["videos", "show", api.failed, "--api-url", api.url])
    assert r.exit_code == 1 and "moov atom not found" in r.output
    ready_id = next(iter(api.ready))
    r = CliRunner().invoke(app, ["videos", "show", ready_id, "--follow", "--api-url", api.url])
    assert r.exit_code == 0 and "720p" in r.output and "1280x720" in r.output
    r = CliRunner().invoke(app, ["videos", "show", "nope", "--api-url", api.url])
    assert r.exit_code == 1 and "no video with id 'nope'" in r.output
