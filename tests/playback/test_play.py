"""``GET /videos/{id}/play``: every business rule, the signed URLs and the license token it returns.

A private catalog DB holds the titles and accounts; the URLs are signed with the stack's edge key
(``vodflow.cdn``) and, when the local edge is up, fetched through it.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from vodflow.auth.tokens import LicenseTokenError, issue_access_token, verify_license_token
from vodflow.catalog import Catalog
from vodflow.settings import load

REND = [{"name": "360p", "width": 640, "height": 360, "fps": 25.0, "codecs": "avc1.64001e,mp4a.40.2",
         "bandwidth": 800_000}]


def add_title(s, status: str, regions=(), *, keys: bool = False) -> str:
    cat = Catalog(s.catalog_db_url)
    vid = str(uuid.uuid4())
    cat.create_video(f"title {status} {regions}", f"masters/{vid}/original.mp4", list(regions), video_id=vid)
    if status in ("processing", "ready", "failed"):
        cat.start_processing(vid, "run-1")
    if status == "ready":
        cat.mark_ready(vid, REND, {"hls": f"videos/{vid}/p1/master.m3u8", "dash": f"videos/{vid}/p1/manifest.mpd"},
                       run_id="run-1")
    if status == "failed":
        cat.mark_failed(vid, "boom", run_id="run-1")
    if keys:
        from vodflow.drm.keystore import KeyStore

        KeyStore(s).get_or_create(vid)
    return vid


@pytest.fixture(scope="module")
def titles(accounts_settings):
    s = accounts_settings
    return {"world": add_title(s, "ready", keys=True), "us": add_title(s, "ready", ["US", "CA"]),
            "processing": add_title(s, "processing"), "failed": add_title(s, "failed")}


@pytest.fixture(scope="module")
def client(accounts_settings, titles):
    from vodflow.api.app import create_app

    with TestClient(create_app(accounts_settings), base_url="http://api.test") as c:
        yield c


def play(client, vid, headers, device="device-1", **kw):
    h = dict(headers)
    if device is not None:
        h["X-Device-Id"] = device
    return client.get(f"/videos/{vid}/play", headers=h, **kw)


# ----------------------------------------------------------------------------- refusals
def test_no_token_is_401_and_no_device_is_400(client, titles, viewer, headers_of):
    r = play(client, titles["world"], {})
    assert r.status_code == 401 and "log in at POST /auth/login" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = play(client, titles["world"], headers_of(viewer), device=None)
    assert r.status_code == 400 and "X-Device-Id header is missing" in r.json()["detail"]
    r = play(client, titles["world"], headers_of(viewer), device="no spaces please")
    assert r.status_code == 400 and "X-Device-Id must be" in r.json()["detail"]


def test_unknown_title_is_404_and_unready_is_409(client, titles, viewer, headers_of):
    for vid in (str(uuid.uuid4()), "not-a-uuid"):
        r = play(client, vid, headers_of(viewer))
        assert r.status_code == 404 and "no video" in r.json()["detail"]
    for name in ("processing", "failed"):
        r = play(client, titles[name], headers_of(viewer))
        assert r.status_code == 409 and r.json()["status"] == name and "not ready" in r.json()["detail"]


@pytest.mark.parametrize("subscription,needle", [
    ("canceled", "subscription is canceled: renew it"),
    ("past_due", "subscription is past_due: renew it"),
    ("none", "there is no subscription: renew it"),
])
def test_no_active_subscription_is_403_with_the_reason(client, titles, make_account, headers_of, subscription, needle):
    user = make_account(subscription=subscription)
    r = play(client, titles["world"], headers_of(user))
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "subscription_inactive"
    assert needle in r.json()["detail"]
    assert f"vodflow users set {user.email} --subscription active" in r.json()["detail"]


def test_renew_url_setting_is_named(accounts_settings, titles, make_account, headers_of):
    from fastapi import FastAPI

    from vodflow.playback.routes import create_router

    s = load({**accounts_settings.values, "VODFLOW_SUBSCRIBE_URL": "https://vodflow.example/account"})
    app = FastAPI()
    app.include_router(create_router(s))
    with TestClient(app) as c:
        r = play(c, titles["world"], headers_of(make_account(subscription="canceled")))
    assert r.status_code == 403
    assert r.json()["detail"] == "subscription is canceled: renew at https://vodflow.example/account"


def test_title_not_available_in_the_country_is_403(client, titles, make_account, headers_of):
    de = make_account(country="DE")
    r = play(client, titles["us"], headers_of(de))
    assert r.status_code == 403 and r.json()["reason"] == "not_available_in_country"
    assert "not available in your country (DE)" in r.json()["detail"] and "US, CA" in r.json()["detail"]
    assert play(client, titles["world"], headers_of(de)).status_code == 200  # worldwide title
    assert play(client, titles["us"], headers_of(make_account(country="CA"))).status_code == 200


def test_entitlement_changes_count_at_once(accounts_settings, client, titles, make_account):
    """The token is checked against the account on every request: canceling or moving takes effect
    with the same, unexpired token."""
    from vodflow.accounts import get_user_store

    user = make_account(country="US")
    h = {"Authorization": f"Bearer {issue_access_token(accounts_settings, user)}"}
    assert play(client, titles["us"], h).status_code == 200
    store = get_user_store(accounts_settings.catalog_db_url)
    store.update(user.id, country="FR")
    assert play(client, titles["us"], h).json()["reason"] == "not_available_in_country"
    store.update(user.id, country="US", subscription="canceled")
    assert play(client, titles["us"], h).json()["reason"] == "subscription_inactive"
    store.update(user.id, subscription="active")
    assert play(client, titles["us"], h).status_code == 200


def test_title_changes_count_after_the_cache_age_without_a_request_waiting(accounts_settings):
    """Ready titles are cached and re-read in the background once stale: a region change or a title
    taken down counts within the cache age, and the requests in between are served from memory."""
    import sqlalchemy as sa

    from vodflow.catalog import db
    from vodflow.catalog.models import Video
    from vodflow.playback.titles import Titles

    s = accounts_settings
    vid = add_title(s, "ready", ["US"])
    titles = Titles(s, ttl_s=0.3)
    assert titles.cached(vid) is None and titles.get(vid).regions == ("US",)
    videos = Video.__table__
    with db.get_engine(s.catalog_db_url).begin() as conn:
        conn.execute(sa.update(videos).where(videos.c.id == vid).values(regions=["US", "FR"]))
    assert titles.cached(vid).regions == ("US",)              # fresh: from memory
    time.sleep(0.35)
    assert titles.cached(vid).regions == ("US",)              # stale: still served at once, re-read queued
    deadline = time.monotonic() + 5
    while titles.cached(vid).regions != ("US", "FR") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert titles.cached(vid).regions == ("US", "FR")
    with db.get_engine(s.catalog_db_url).begin() as conn:   # taken down: leaves the cache on its re-read
        conn.execute(sa.update(videos).where(videos.c.id == vid).values(status="failed"))
    time.sleep(0.35)
    titles.cached(vid)
    deadline = time.monotonic() + 5
    while titles.cached(vid) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert titles.cached(vid) is None and titles.get(vid).status.value == "failed"


def test_next_step_signature_is_made_in_the_background(accounts_settings):
    from vodflow.playback.titles import Signatures

    sig = Signatures(accounts_settings, ttl_s=3600, step_s=2)
    first = sig.get("t1")
    assert sig.cached("t1") is first
    deadline = time.monotonic() + 10
    while sig.cached("t1") is first and time.monotonic() < deadline:   # next step: still served, renewed
        time.sleep(0.05)
    now = time.time()
    renewed = sig.cached("t1")
    assert renewed is not first and renewed.expires_at > first.expires_at
    assert renewed.expires_at >= now + 3600 - 2


def test_admins_pass_subscription_and_country_checks(client, titles, make_account, headers_of):
    qa = make_account(role="admin", country="JP", subscription="none")
    assert play(client, titles["us"], headers_of(qa)).status_code == 200
    assert play(client, titles["processing"], headers_of(qa)).status_code == 409  # but not readiness


# ----------------------------------------------------------------------------- the answer
def test_ok_returns_signed_edge_urls_license_and_kids(client, titles, viewer, headers_of, accounts_settings):
    from vodflow.cdn.signing import SignatureError, edge_url, verify
    from vodflow.drm.keystore import KeyStore

    s = accounts_settings
    vid = titles["world"]
    t0 = time.time()
    r = play(client, vid, headers_of(viewer), device="tv-livingroom")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["video_id"] == vid
    # expiry: VODFLOW_PLAY_URL_TTL (6 h) rounded up to a 5-minute step; in the first request of a new step
    # the last step's signature may still be served while the new one is made (refresh-ahead)
    from vodflow.playback.titles import EXPIRY_STEP_S as step

    assert -step <= body["expires_at"] - (t0 + s.play_url_ttl) <= step + 1 and body["expires_at"] % step == 0
    q = parse_qs(body["signed_query"])
    assert set(q) == {"Policy", "Signature", "Key-Pair-Id"}
    assert q["Key-Pair-Id"] == [s["VODFLOW_CDN_KEY_PAIR_ID"]]
    assert body["cookies"] == {"CloudFront-Policy": q["Policy"][0], "CloudFront-Signature": q["Signature"][0],
                               "CloudFront-Key-Pair-Id": q["Key-Pair-Id"][0]}
    for key, name in (("hls_url", "master.m3u8"), ("dash_url", "manifest.mpd")):
        u = urlsplit(body[key])
        assert body[key].startswith(edge_url(s, f"/videos/{vid}/p1/{name}?"))
        assert u.query == body["signed_query"]
        verify(s, u.path, u.query)  # the edge accepts it ...
    # ... and every segment below the title's prefix (relative URLs in the playlists), but nothing else
    verify(s, f"/videos/{vid}/p1/video/720p/seg_00042.m4s", body["signed_query"])
    verify(s, f"/videos/{vid}/p1/master.m3u8", body["cookies"])
    for other in (f"/videos/{titles['us']}/p1/master.m3u8", f"/videos/{vid}x/master.m3u8"):
        with pytest.raises(SignatureError):
            verify(s, other, body["signed_query"])
    with pytest.raises(SignatureError):
        verify(s, f"/videos/{vid}/p1/master.m3u8", body["signed_query"], now=body["expires_at"] + 1)

    # license: this API's ClearKey endpoint and a token bound to user, title, device, 1 h
    assert body["license_url"] == "http://api.test/license/clearkey"
    c = verify_license_token(s, body["license_token"], video_id=vid, device_id="tv-livingroom")
    assert c.user_id == viewer.id and c.exp - c.iat == 3600 and abs(c.exp - (t0 + 3600)) < 10
    assert body["license_expires_at"] == pytest.approx(c.exp, abs=2)
    for kw in ({"video_id": titles["us"], "device_id": "tv-livingroom"}, {"video_id": vid, "device_id": "phone"}):
        with pytest.raises(LicenseTokenError):
            verify_license_token(s, body["license_token"], **kw)
    assert body["drm"] == {"clearkey": {"kids": KeyStore(s).kids(vid)}}
    assert len(body["drm"]["clearkey"]["kids"][0]) == 32

    clear = play(client, titles["us"], headers_of(viewer)).json()
    assert clear["drm"] is None and clear["license_token"]


def test_signature_is_shared_within_the_minute_but_license_tokens_are_personal(client, titles, viewer, admin,
                                                                               headers_of):
    a = play(client, titles["world"], headers_of(viewer), device="d1").json()
    b = play(client, titles["world"], headers_of(admin), device="d2").json()
    if a["expires_at"] == b["expires_at"]:  # same 5-minute step: the same signature (one RSA operation)
        assert a["signed_query"] == b["signed_query"]
    assert a["license_token"] != b["license_token"]


def test_public_api_url_setting_names_the_license_server(accounts_settings, titles, viewer, headers_of):
    from fastapi import FastAPI

    from vodflow.playback.routes import create_router

    s = load({**accounts_settings.values, "VODFLOW_API_PUBLIC_URL": "https://api.vodflow.example/"})
    app = FastAPI()
    app.include_router(create_router(s))
    with TestClient(app) as c:
        body = play(c, titles["world"], headers_of(viewer)).json()
    assert body["license_url"] == "https://api.vodflow.example/license/clearkey"


# ----------------------------------------------------------------------------- through the real edge
def test_urls_play_through_the_local_edge(client, titles, viewer, headers_of, accounts_settings):
    """Objects under the title's prefix in the origin bucket come back through the edge with the
    /play signature; a tampered signature is refused (403)."""
    import httpx

    from vodflow.clients import s3_client
    from vodflow.stack import health

    s = accounts_settings
    up = (health.http_ok(s["VODFLOW_EDGE_URL"].rstrip("/") + "/_edge/health")[0] and health.s3(s)[0]
          and health.http_ok(f"{s.api_url}/healthz")[0])  # the edge asks the API's /edge/verify
    if not up:
        pytest.skip("the local edge, its verifier (the api service) or S3 is not running (`vodflow up`)")
    vid = titles["world"]
    s3 = s3_client(s)
    keys = {f"videos/{vid}/p1/master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n",
            f"videos/{vid}/p1/video/360p/seg_00001.m4s": b"\0" * 4096}
    for k, data in keys.items():
        s3.put_object(Bucket=s.bucket_origin, Key=k, Body=data)
    try:
        body = play(client, vid, headers_of(viewer)).json()
        r = httpx.get(body["hls_url"], timeout=10)
        assert r.status_code == 200, r.text
        assert r.content == keys[f"videos/{vid}/p1/master.m3u8"]
        seg = body["hls_url"].replace("master.m3u8", "video/360p/seg_00001.m4s")
        r = httpx.get(seg, timeout=10)
        assert r.status_code == 200 and len(r.content) == 4096
        tampered = body["hls_url"].replace("Signature=", "Signature=A")
        assert httpx.get(tampered, timeout=10).status_code == 403
        assert httpx.get(body["hls_url"].split("?")[0], timeout=10).status_code == 403
    finally:
        for k in keys:
            s3.delete_object(Bucket=s.bucket_origin, Key=k)
