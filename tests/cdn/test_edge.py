"""The running edge (nginx under `vodflow up`) in front of the real origin: signatures, cache, ranges, CORS.

Objects are published with boto3 into the origin bucket under ``videos/<random id>/`` with the
Content-Type / Cache-Control that publish uses; origin requests are counted from the edge's origin log
(every request that reached the origin passes the origin tap and is logged there).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from vodflow.cdn import edge as edge_files
from vodflow.cdn.signing import edge_url, sign_prefix
from vodflow.clients import s3_client
from vodflow.ingest.publish import IMMUTABLE, PLAYLIST, content_headers


@pytest.fixture(scope="module")
def edge(stack):
    s = stack
    r = requests.get(f"{edge_files.edge_local_url(s)}/_edge/health", timeout=5)
    assert r.status_code == 200, "the edge service is not answering: run `vodflow up`"
    return s


class Title:
    """A fake-but-real published title: bytes in the origin bucket, signed query for its prefix."""

    def __init__(self, s, files: dict[str, bytes], cache_control: dict[str, str] | None = None):
        self.s = s
        self.id = f"edgetest-{uuid.uuid4().hex[:12]}"
        self.prefix = f"videos/{self.id}/"
        self.files = files
        self.client = s3_client(s)
        for name, body in files.items():
            ctype, cache = content_headers(name)
            self.client.put_object(Bucket=s.bucket_origin, Key=self.prefix + name, Body=body, ContentType=ctype,
                                   CacheControl=(cache_control or {}).get(name, cache))
        self.signed = sign_prefix(s, f"/{self.prefix}", time.time() + 600)

    def url(self, name: str, query: str | None = "") -> str:
        base = edge_url(self.s, f"/{self.prefix}{name}")
        q = self.signed.query if query == "" else query
        return f"{base}?{q}" if q else base

    def origin_requests(self, name: str) -> int:
        log = edge_files.origin_log(self.s)
        needle = f" /{self.s.bucket_origin}/{self.prefix}{name}\""
        try:
            return sum(1 for line in log.read_text().splitlines() if needle in line)
        except FileNotFoundError:
            return 0

    def wait_origin_requests(self, name: str, expected: int, timeout: float = 2.0) -> int:
        deadline = time.monotonic() + timeout
        n = self.origin_requests(name)
        while n < expected and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.origin_requests(name)
        time.sleep(0.2)  # and nothing more arrives
        return self.origin_requests(name)

    def delete(self):
        for name in self.files:
            self.client.delete_object(Bucket=self.s.bucket_origin, Key=self.prefix + name)


@pytest.fixture(scope="module")
def title(edge):
    """One published title for the module; each test uses its own objects, so each starts uncached."""
    t = Title(edge, {
        "p1/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv1/index.m3u8\n",
        "p1/manifest.mpd": b"<?xml version='1.0'?><MPD/>",
        **{f"p1/v1/seg_{i}.m4s": os.urandom(64 * 1024 + i) for i in range(1, 13)},
        "p1/v1/range.m4s": os.urandom(1536 * 1024),
        "p1/v1/collapse.m4s": os.urandom(1536 * 1024),
    })
    yield t
    t.delete()


def _get(url: str, **kw) -> requests.Response:
    return requests.get(url, timeout=20, **kw)


# --------------------------------------------------------------------------- happy path and cache
def test_signed_request_is_served_from_origin_then_from_cache(title):
    name = "p1/v1/seg_1.m4s"
    r = _get(title.url(name))
    assert r.status_code == 200, r.text
    assert r.content == title.files[name]
    assert r.headers["Content-Type"] == "video/iso.segment"
    assert r.headers["Cache-Control"] == IMMUTABLE          # the origin's Cache-Control passes through
    assert r.headers["X-Cache-Status"] == "MISS"
    assert title.wait_origin_requests(name, 1) == 1
    for _ in range(3):
        r2 = _get(title.url(name))
        assert r2.status_code == 200 and r2.content == title.files[name]
        assert r2.headers["X-Cache-Status"] == "HIT"
    assert title.wait_origin_requests(name, 1) == 1       # served by the edge without reaching the origin
    # the cache key is the path only: another valid signature for the same title hits the same entry
    other = sign_prefix(title.s, f"/{title.prefix}", time.time() + 300)
    r3 = _get(title.url(name, other.query))
    assert r3.headers["X-Cache-Status"] == "HIT" and r3.content == title.files[name]
    assert title.origin_requests(name) == 1
    # the origin never sees the signature
    assert "Signature" not in edge_files.origin_log(title.s).read_text()


def test_playlist_cache_control_passes_through(title):
    r = _get(title.url("p1/master.m3u8"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert r.headers["Cache-Control"] == PLAYLIST
    r = _get(title.url("p1/manifest.mpd"))
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/dash+xml"


def test_edge_honours_origin_cache_control(edge):
    t = Title(edge, {"p1/short.m4s": b"short-lived", "p1/nostore.m4s": b"never cached"},
              cache_control={"p1/short.m4s": "public, max-age=2", "p1/nostore.m4s": "no-store"})
    try:
        for _ in range(3):
            assert _get(t.url("p1/nostore.m4s")).status_code == 200
        assert t.wait_origin_requests("p1/nostore.m4s", 3) == 3   # no-store: every request goes to the origin
        assert _get(t.url("p1/short.m4s")).headers["X-Cache-Status"] == "MISS"
        assert _get(t.url("p1/short.m4s")).headers["X-Cache-Status"] == "HIT"
        assert t.wait_origin_requests("p1/short.m4s", 1) == 1
        time.sleep(3)                                              # max-age=2 has passed
        r = _get(t.url("p1/short.m4s"))
        assert r.status_code == 200 and r.content == b"short-lived"
        assert r.headers["X-Cache-Status"] in ("EXPIRED", "REVALIDATED")
        assert t.wait_origin_requests("p1/short.m4s", 2) == 2
    finally:
        t.delete()


# --------------------------------------------------------------------------- refusals
def _assert_refused(title, url: str, reason: str, name: str, **kw):
    for _ in range(2):  # the second answer comes from the edge's cache of verifier answers
        r = _get(url, **kw)
        assert r.status_code == 403, r.text
        assert r.headers["X-Edge-Deny-Reason"] == reason
        assert r.json()["reason"] == reason
        assert r.headers["Access-Control-Allow-Origin"]  # the player can read why
    assert title.wait_origin_requests(name, 0, timeout=0.3) == 0, "a refused request reached the origin"


def test_missing_signature_is_refused_without_reaching_origin(title):
    name = "p1/v1/seg_2.m4s"
    _assert_refused(title, title.url(name, None), "missing", name)
    _assert_refused(title, title.url(name, "Key-Pair-Id=vodflow-local"), "missing", name)


def test_tampered_signature_is_refused(title):
    name = "p1/v1/seg_3.m4s"
    p = dict(x.split("=", 1) for x in title.signed.query.split("&"))
    sig = p["Signature"]
    flipped = sig[:20] + ("A" if sig[20] != "A" else "B") + sig[21:]
    _assert_refused(title, title.url(name, f"Policy={p['Policy']}&Signature={flipped}&Key-Pair-Id=vodflow-local"),
                    "bad signature", name)
    _assert_refused(title, title.url(name, title.signed.query.replace("Policy=", "Policy=x")), "malformed", name)
    _assert_refused(title, title.url(name, title.signed.query.replace("vodflow-local", "other")),
                    "unknown key pair", name)


def test_expired_signature_is_refused(title):
    name = "p1/v1/seg_4.m4s"
    expired = sign_prefix(title.s, f"/{title.prefix}", time.time() - 1)
    _assert_refused(title, title.url(name, expired.query), "expired", name)


def test_other_titles_policy_is_refused(title, edge):
    name = "p1/v1/seg_5.m4s"
    other = sign_prefix(edge, f"/videos/{uuid.uuid4().hex}/", time.time() + 600)
    _assert_refused(title, title.url(name, other.query), "resource mismatch", name)
    # a policy for /videos/a/* used on /videos/b/...: here a = this id minus its last character
    a = sign_prefix(edge, f"/videos/{title.id[:-1]}/", time.time() + 600)
    _assert_refused(title, title.url(name, a.query), "resource mismatch", name)
    # and with the other title's signed cookies
    _assert_refused(title, title.url(name, None), "resource mismatch", name, cookies=other.cookies)


def test_cached_object_still_needs_a_valid_signature(title):
    name = "p1/v1/seg_6.m4s"
    assert _get(title.url(name)).status_code == 200
    assert _get(title.url(name)).headers["X-Cache-Status"] == "HIT"
    expired = sign_prefix(title.s, f"/{title.prefix}", time.time() - 1)
    r = _get(title.url(name, expired.query))
    assert r.status_code == 403 and r.headers["X-Edge-Deny-Reason"] == "expired"
    assert _get(title.url(name, None)).status_code == 403
    assert title.origin_requests(name) == 1


def test_signed_cookies_are_accepted(title):
    name = "p1/v1/seg_7.m4s"
    r = _get(title.url(name, None), cookies=title.signed.cookies)
    assert r.status_code == 200 and r.content == title.files[name]


def test_only_get_and_head(title):
    name = "p1/v1/seg_8.m4s"
    assert requests.post(title.url(name), data=b"x", timeout=10).status_code == 405
    h = requests.head(title.url(name), timeout=10)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(title.files[name])


# --------------------------------------------------------------------------- ranges, collapsing, CORS
def test_byte_ranges_on_miss_and_hit(title):
    name = "p1/v1/range.m4s"
    body = title.files[name]
    r = _get(title.url(name), headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206, r.text
    assert r.headers["X-Cache-Status"] == "MISS"
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(body)}"
    assert r.content == body[1000:2000]
    for rng, want in (("bytes=0-0", body[:1]), ("bytes=-500", body[-500:]),
                      (f"bytes={len(body) - 10}-", body[-10:]), ("bytes=123456-1234567", body[123456:1234568])):
        r = _get(title.url(name), headers={"Range": rng})
        assert r.status_code == 206 and r.headers["X-Cache-Status"] == "HIT", rng
        assert r.content == want, rng
    assert title.wait_origin_requests(name, 1) == 1
    r = _get(title.url(name), headers={"Range": f"bytes={len(body)}-"})
    assert r.status_code == 416


def test_concurrent_misses_collapse_into_one_origin_request(title):
    name = "p1/v1/collapse.m4s"
    with ThreadPoolExecutor(10) as pool:
        rs = list(pool.map(lambda _: _get(title.url(name)), range(10)))
    assert [r.status_code for r in rs] == [200] * 10
    assert all(r.content == title.files[name] for r in rs)
    assert title.wait_origin_requests(name, 1) == 1
    assert sum(r.headers["X-Cache-Status"] == "MISS" for r in rs) == 1


def test_cors_and_preflight(title):
    name = "p1/v1/seg_10.m4s"
    page = "http://127.0.0.1:8000"
    pre = requests.options(title.url(name, None), timeout=10, headers={
        "Origin": page, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert pre.status_code == 204                             # no signature needed for the preflight
    assert pre.headers["Access-Control-Allow-Origin"] in ("*", page)
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    assert "Range" in pre.headers["Access-Control-Allow-Headers"]
    r = _get(title.url(name), headers={"Origin": page, "Range": "bytes=0-9"})
    assert r.status_code == 206
    assert r.headers["Access-Control-Allow-Origin"] in ("*", page)
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-length", "content-range"} <= exposed
    assert title.wait_origin_requests(name, 1) == 1


def test_verifier_endpoint_directly(edge, title):
    api = edge.api_url
    ok = requests.get(f"{api}/edge/verify", timeout=10,
                      headers={"X-Original-URI": f"/{title.prefix}p1/v1/seg_1.m4s?{title.signed.query}"})
    assert ok.status_code == 204
    assert ok.headers["Cache-Control"].startswith("max-age=")
    assert 0 < int(ok.headers["Cache-Control"].split("=")[1]) <= 30
    no = requests.get(f"{api}/edge/verify", timeout=10, headers={"X-Original-URI": f"/{title.prefix}x"})
    assert no.status_code == 403 and no.headers["X-Edge-Deny-Reason"] == "missing"
    assert requests.get(f"{api}/edge/verify", timeout=10).status_code == 403


def test_access_log_records_cache_status(title):
    name = "p1/v1/seg_9.m4s"
    _get(title.url(name))
    _get(title.url(name))
    time.sleep(0.2)
    lines = [ln for ln in edge_files.access_log(title.s).read_text().splitlines() if f"/{title.prefix}{name}" in ln]
    assert [ln.split("cache=")[1].split()[0] for ln in lines][-2:] == ["MISS", "HIT"]
    assert all("Signature" not in ln for ln in lines)


def test_unknown_paths_are_not_proxied(edge):
    r = _get(f"{edge_files.edge_local_url(edge)}/vodflow-masters/whatever")
    assert r.status_code == 404
    assert json.loads(r.text)["detail"]


def test_verifier_answers_are_cached_by_full_uri(title):
    name = "p1/v1/seg_11.m4s"
    assert _get(title.url(name)).status_code == 200
    key = f"KEY: /{title.prefix}{name}?{title.signed.query}|"
    auth_dir = edge_files.edge_dir(title.s) / "cache" / "auth"
    found = [f for f in auth_dir.rglob("*") if f.is_file() and key.encode() in f.read_bytes()[:4096]]
    assert len(found) == 1
    assert b"HTTP/1.1 204" in found[0].read_bytes()[:4096]


# --------------------------------------------------------------------------- config (no running stack needed)
def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rendered_config_with_origin_list_and_dead_verifier(tmp_path):
    """A private nginx from the same template: listed CORS origins are echoed with credentials, and a
    verifier that cannot be reached gives 503 naming it, not a 500 or a served object."""
    import subprocess

    from vodflow.settings import load

    port = _free_port()
    s = load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_EDGE_PORT": str(port),
              "VODFLOW_EDGE_URL": f"http://127.0.0.1:{port}", "VODFLOW_API_URL": f"http://127.0.0.1:{_free_port()}",
              "VODFLOW_EDGE_CORS_ORIGINS": "http://player.test, https://app.test"})
    conf = edge_files.render_nginx_conf(s)
    assert "@@" not in conf.read_text()
    edge_files.check_nginx_conf(s)
    from edgekit import start_nginx

    proc = start_nginx(s, subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        pre = requests.options(f"{base}/videos/x/a.m4s", timeout=5,
                               headers={"Origin": "https://app.test", "Access-Control-Request-Method": "GET"})
        assert pre.status_code == 204
        assert pre.headers["Access-Control-Allow-Origin"] == "https://app.test"
        assert pre.headers["Access-Control-Allow-Credentials"] == "true"
        other = requests.options(f"{base}/videos/x/a.m4s", timeout=5, headers={"Origin": "https://evil.test"})
        assert "Access-Control-Allow-Origin" not in other.headers
        r = requests.get(f"{base}/videos/x/a.m4s?Policy=a&Signature=b&Key-Pair-Id=c", timeout=5)
        assert r.status_code == 503 and "verifier" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(10)
