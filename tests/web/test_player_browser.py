"""The web player in a real browser: Debian chromium headless, driven by Playwright.

Everything is real: a short clip goes through the ingest pipeline (encode, CENC-encrypt with the
title's key, package, publish to the origin bucket), a subscriber signs in on the login page, the
title page calls ``GET /videos/{id}/play``, shaka-player fetches the manifest and segments through
the nginx edge with the signed query, gets the ClearKey license from ``POST /license/clearkey`` and
decrypts; the player's events go through ``POST /events`` to Kafka.

The pages are served by an in-process API (``create_app`` on a free port) so the code under test is
this checkout's; the edge, S3, Kafka and the catalog are the shared stack's.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from vodflow.settings import get_settings

pytestmark = [pytest.mark.stack]

PLAYER_ARGS = ["--autoplay-policy=no-user-gesture-required", "--mute-audio"]
PASSWORD = "player-test-pw-1"
STATE_JS = """() => { const v = document.getElementById('video'); const p = window.vodflowPlayer || {};
  return {t: v ? v.currentTime : 0, state: p.state, errors: p.errors || [], rungs: p.rungsFetched || [],
          segments: p.segmentsFetched || 0, license: p.licenseRequests || [], sent: p.eventsSent || 0,
          queued: p.eventsQueued || 0, rejected: p.eventsRejected || [], log: p.eventLog || [],
          session: p.sessionId, cues: p.storyboardCues || 0, rung: p.currentRung, startup: p.startupMs,
          stopped: !!p.stopped, frames_at_error: p.framesAtError}; }"""


# ------------------------------------------------------------------------------------------- fixtures
def _ffmpeg(*args: str) -> None:
    from vodflow.media.tools import ffmpeg_bin, run_tool

    run_tool([ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y", *args], timeout=300)


def _ingest(stack, src: Path, name: str, *, drm: str = "clearkey") -> dict:
    """Run the ingest steps (accept, inspect, transcode, go_live) of the video_ingest DAG on ``src``."""
    from ingestkit import ingest_clip

    from vodflow.settings import Settings

    # the fixed ladder: these tests are about adaptive playback and need a known ladder of two rungs; the
    # per-title ladder (tested in tests/media) may give a noisy test pattern a single rung
    return ingest_clip(Settings(values={**stack.values, "VODFLOW_DRM": drm, "VODFLOW_LADDER": "fixed"}), src, name,
                       "player-test")


@pytest.fixture(scope="module")
def title(stack, tmp_path_factory):
    """A 30 s 640x360 clip with audio, ingested by the real pipeline: two rungs (234p, 360p), encrypted.

    The picture carries light noise so each rung really uses its bitrate (a clean test pattern
    compresses to almost nothing and every rung would fit any bandwidth)."""
    src = tmp_path_factory.mktemp("player") / "clip.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=30,noise=alls=6:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30",
            "-c:v", "libx264", "-preset", "veryfast", "-threads", "2", "-b:v", "1500k",
            "-c:a", "aac", "-b:a", "96k", "-shortest", str(src))
    rec = _ingest(stack, src, "Player test clip (encrypted)")
    assert len(rec["renditions"]) >= 2, rec["renditions"]
    return rec


@pytest.fixture(scope="module")
def clear_title(stack, tmp_path_factory):
    """A short clip ingested with VODFLOW_DRM=off: the hls.js path."""
    src = tmp_path_factory.mktemp("player-clear") / "clear.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=416x234:rate=25:duration=10",
            "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=10",
            "-c:v", "libx264", "-preset", "veryfast", "-threads", "2",
            "-c:a", "aac", "-b:a", "96k", "-shortest", str(src))
    return _ingest(stack, src, "Player test clip (clear)", drm="off")


@pytest.fixture(scope="module")
def edge(stack):
    """The edge must be up: the player fetches everything through it."""
    import urllib.error
    import urllib.request

    from vodflow.cdn.signing import edge_url

    url = edge_url(stack, "/videos/no-such-title/manifest.mpd")
    try:
        urllib.request.urlopen(url, timeout=5)
    except urllib.error.HTTPError as e:
        assert e.code == 403, f"the edge at {url} answered {e.code} to an unsigned request (expected 403)"
    except OSError as e:
        pytest.fail(f"the edge is not reachable at {url} ({e}): start it with `vodflow up`")
    return stack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def site(stack, edge):
    """This checkout's API (pages, /play, license, /events) on a free port, in a thread."""
    import uvicorn

    from vodflow.api.app import create_app
    from vodflow.web import bundle_info

    bundle_info()  # a clear failure naming `make web` when the front end was not built
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(stack), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def viewer(stack):
    """An active US subscriber (country matches the worldwide test title)."""
    from vodflow.accounts import get_user_store

    email = f"player-{uuid.uuid4().hex[:10]}@test.vodflow.local"
    return get_user_store(stack.catalog_db_url).create(email, PASSWORD, country="US", plan="standard",
                                                       subscription="active")


@pytest.fixture(scope="module")
def browser():
    from browserkit import chromium

    with chromium(PLAYER_ARGS) as b:
        yield b


@pytest.fixture
def page(browser):
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.set_default_timeout(20000)
    pg.console_lines = []
    pg.on("console", lambda m: pg.console_lines.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.console_lines.append(f"pageerror: {e}"))
    yield pg
    ctx.close()


def _sign_in(page, site: str, email: str, next_path: str) -> None:
    page.goto(f"{site}{next_path}")
    page.wait_for_url("**/login?next=*")          # the title page sends a signed-out visitor to the form
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{next_path}")


def _state(page) -> dict:
    return page.evaluate(STATE_JS)


def _wait(page, pred, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = _state(page)
        if pred(st):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; player state {st}; "
                                 f"console: {page.console_lines[-15:]}")
        time.sleep(0.25)


def _throttle(cdp, edge_base: str, kbps: float | None) -> None:
    """Limit the bandwidth of requests to the edge only (the page's own bundles load at full speed),
    with CDP's per-URL network conditions; ``None`` lifts the limit."""
    rules = [] if kbps is None else [{"urlPattern": f"{edge_base.rstrip('/')}/*", "latency": 20,
                                      "downloadThroughput": kbps * 1000 / 8, "uploadThroughput": kbps * 1000 / 8}]
    cdp.send("Network.emulateNetworkConditionsByRule", {"offline": False, "matchedNetworkConditions": rules})


# ------------------------------------------------------------------------------------------- tests
def test_catalog_page_shows_the_title_with_a_poster_signed_for_its_thumbs_only(site, title, browser):
    pg = browser.new_page()
    try:
        pg.goto(f"{site}/")
        card = pg.locator(f'a.card[data-video-id="{title["id"]}"]')
        card.wait_for(timeout=15000)
        img = card.locator("img")
        src = img.get_attribute("src")
        # the poster came through the edge: the signed request was accepted and the JPEG decoded
        pg.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=15000)
        policy = src.split("Policy=", 1)[1].split("&", 1)[0]
        policy = base64.b64decode(policy.replace("-", "+").replace("_", "=").replace("~", "/"))
        resource = json.loads(policy)["Statement"][0]["Resource"]
        thumbs = title["thumbnails"]["storyboard_vtt"].rsplit("/", 1)[0]   # videos/{id}/{publish}/thumbs
        assert resource.endswith(f"/{thumbs}/*"), f"the poster policy must cover only the thumbs: {resource}"
        assert card.get_attribute("href") == f"/watch/{title['id']}"
    finally:
        pg.close()


def test_encrypted_title_plays_adaptively_and_its_progress_events_reach_kafka(site, title, viewer, page, stack):
    from vodflow.clients import kafka_consumer

    # the events topic from its current end: only this session's events will be looked at
    consumer = kafka_consumer(settings=stack, consumer_timeout_ms=1000)
    from kafka import TopicPartition

    parts = [TopicPartition(stack.topic_events, p) for p in consumer.partitions_for_topic(stack.topic_events)]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for tp in parts:
        consumer.position(tp)

    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # Start slower than the top rung needs (its variant is ~510 kb/s with audio), so ABR has to pick
    # a lower rung; open the pipe once playback runs, so it climbs back.
    edge_base = stack["VODFLOW_EDGE_URL"]
    _throttle(cdp, edge_base, 330)
    _sign_in(page, site, viewer.email, f"/watch/{title['id']}")
    st = _wait(page, lambda s: s["errors"] or s["t"] > 0.3, 90, "playback to start under throttling")
    assert not st["errors"], st["errors"]
    _throttle(cdp, edge_base, None)
    st = _wait(page, lambda s: s["errors"] or s["t"] > 5, 60, "currentTime to pass 5 s")
    assert not st["errors"], st["errors"]
    assert st["license"] and all(r["status"] == 200 for r in st["license"]), st["license"]
    try:
        st = _wait(page, lambda s: s["errors"] or len(s["rungs"]) >= 2, 15, "segments of a second rung")
    except AssertionError:
        # ABR kept one rung through both phases (e.g. its first pick already fit): squeeze the edge
        # below the top variant so it has to step down, then open it again.
        _throttle(cdp, edge_base, 200)
        st = _wait(page, lambda s: s["errors"] or len(s["rungs"]) >= 2, 40, "a second rung under 200 kb/s")
        _throttle(cdp, edge_base, None)
    assert not st["errors"], st["errors"]
    assert len(set(st["rungs"])) >= 2, f"segments of only {st['rungs']} were fetched"
    assert set(st["rungs"]) <= {r["name"] for r in title["renditions"]}
    assert st["startup"] and st["startup"] > 0
    assert st["cues"] > 0, "the storyboard (scrub previews) did not load through the edge"

    # scrub preview: hovering the seek bar shows a storyboard tile
    seek = page.locator("#seek")
    box = seek.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    preview = page.locator("#preview")
    assert preview.is_visible() and "storyboard" in (preview.evaluate("e => e.style.backgroundImage") or "")

    # 10 s of playback -> a video_progress event, batched to POST /events, produced to Kafka
    st = _wait(page, lambda s: s["errors"] or "video_progress" in s["log"], 40, "a video_progress event")
    st = _wait(page, lambda s: s["sent"] >= s["queued"] - 1 and s["sent"] >= 3, 20, "the event batch to be posted")
    assert not st["rejected"], f"the API rejected player events: {st['rejected']}"
    session = st["session"]
    seen: list[dict] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(e["type"] == "video_progress" for e in seen):
        for msg in consumer:
            if msg.key == session.encode():
                seen.append(json.loads(msg.value))
    consumer.close()
    types = [e["type"] for e in seen]
    assert "video_progress" in types and "startup" in types and "video_started" in types, types
    progress = next(e for e in seen if e["type"] == "video_progress")
    assert progress["user_id"] == viewer.id and progress["video_id"] == title["id"]
    assert progress["country"] == "US" and progress["device"] == "web" and progress["played_s"] == 10
    assert progress["rung"] in {r["name"] for r in title["renditions"]}
    assert progress["position_s"] >= 9.5 and progress["server_ts"]
    assert not [line for line in page.console_lines if line.startswith("pageerror")], page.console_lines


@pytest.mark.parametrize("bad", ["other_title", "other_device", "expired"])
def test_a_license_token_for_another_title_device_or_expired_is_refused_and_nothing_plays(
        site, title, viewer, page, stack, bad):
    from vodflow.auth.tokens import LEEWAY_S, issue_license_token

    swapped = {}

    def swap_license_token(route):
        resp = route.fetch()
        body = resp.json()
        device = route.request.headers["x-device-id"]
        kw = dict(user_id=viewer.id, video_id=title["id"], device_id=device)
        if bad == "other_title":
            kw["video_id"] = str(uuid.uuid4())
        elif bad == "other_device":
            kw["device_id"] = str(uuid.uuid4())
        else:
            kw["ttl_s"] = -(LEEWAY_S + 60)
        body["license_token"] = issue_license_token(stack, **kw)
        swapped["done"] = True
        route.fulfill(response=resp, json=body)

    page.route(f"**/videos/{title['id']}/play", swap_license_token)
    _sign_in(page, site, viewer.email, f"/watch/{title['id']}")
    st = _wait(page, lambda s: s["errors"], 40, "the player to report the refused license")
    assert swapped, "/play was not intercepted"
    kinds = {e["kind"] for e in st["errors"]}
    assert kinds & {"license", "drm", "decryption"}, st["errors"]
    assert any(r["status"] == 403 for r in st["license"]), st["license"]
    assert not any(r["status"] == 200 for r in st["license"]), st["license"]
    # Not one frame was decoded before the player gave up (it then unloads: no more segment fetches),
    # and nothing plays afterwards either.
    frames_at_error = _wait(page, lambda s: s["stopped"], 10, "the player to stop")["frames_at_error"]
    assert frames_at_error == 0, f"{frames_at_error} frames were decoded without a license"
    page.wait_for_timeout(2000)
    st = _state(page)
    frames = page.evaluate("() => document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames")
    assert st["t"] == 0 and frames == 0, f"position {st['t']} s, {frames} frames decoded without a license"
    alert = page.locator("#errors .error").first.inner_text()
    assert "License refused (HTTP 403)" in alert, alert


def test_a_clear_title_plays_with_hls_js_through_the_edge(site, clear_title, viewer, page):
    _sign_in(page, site, viewer.email, f"/watch/{clear_title['id']}")
    st = _wait(page, lambda s: s["errors"] or s["t"] > 3, 60, "the clear title to play 3 s")
    assert not st["errors"], st["errors"]
    assert page.evaluate("() => window.vodflowPlayer.engine") == "hls"
    assert st["license"] == [] and st["segments"] >= 1 and st["rungs"]


def test_without_the_built_bundle_the_pages_answer_503_naming_make_web(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from vodflow.web import BundleMissing, bundle_info, create_router

    with pytest.raises(BundleMissing, match="make web"):
        bundle_info(tmp_path)
    app = FastAPI()
    app.include_router(create_router(get_settings(), static_dir=tmp_path))
    client = TestClient(app)
    for path in ("/", "/login", f"/watch/{uuid.uuid4()}", "/static/watch.js"):
        r = client.get(path)
        assert r.status_code == 503 and "make web" in r.text, (path, r.status_code, r.text)
