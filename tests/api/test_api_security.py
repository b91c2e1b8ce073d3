"""Upload refusals and path traversal on the real API (uvicorn), real S3 and a private catalog
(docs/security.md). Nothing refused may leave an object, an unfinished multipart upload or a row.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
import uuid

import httpx
import pytest
from apikit import serve, settings_with
from authkit import headers_for, make_user
from test_api_upload import catalog_ids, in_progress_uploads

MiB = 1024 * 1024
LIMIT = 12 * MiB
PART = 5 * MiB          # S3's smallest part: the over-long upload really has parts stored before it is refused


@pytest.fixture(scope="module")
def limited(api_settings):
    """The API with VODFLOW_UPLOAD_MAX_BYTES = 12 MiB over the module's catalog, S3 and ingest topic."""
    from vodflow.api.app import create_app

    s = settings_with(VODFLOW_CATALOG_DB_URL=api_settings.catalog_db_url,
                      VODFLOW_TOPIC_INGEST=api_settings.topic_ingest, VODFLOW_UPLOAD_MAX_BYTES=str(LIMIT))
    with serve(create_app(s, part_size=PART)) as url:
        yield url, s


def _nothing_stored(s3, settings, before: set[str]) -> None:
    assert catalog_ids(settings.catalog_db_url) == before
    assert in_progress_uploads(s3, settings.bucket_masters) == set()


def test_unauthenticated_and_viewer_uploads_are_refused_before_storing(limited, s3, api_settings):
    url, s = limited
    before = catalog_ids(s.catalog_db_url)
    viewer = make_user(s)
    for headers, status in (({}, 401), ({"Authorization": "Bearer forged.token.value"}, 401),
                            (headers_for(s, viewer), 403)):
        r = httpx.post(f"{url}/videos", headers=headers, data={"title": "nope"},
                       files={"file": ("a.mp4", os.urandom(64 * 1024), "video/mp4")}, timeout=60)
        assert r.status_code == status, r.text
    _nothing_stored(s3, s, before)


def test_oversize_upload_is_413_from_its_content_length(limited, s3, admin):
    url, s = limited
    before = catalog_ids(s.catalog_db_url)
    r = httpx.post(f"{url}/videos", headers=admin, data={"title": "too big"},
                   files={"file": ("big.mp4", os.urandom(LIMIT + 2 * MiB), "video/mp4")}, timeout=120)
    assert r.status_code == 413, r.text
    assert "VODFLOW_UPLOAD_MAX_BYTES" in r.json()["detail"] and "Nothing was stored" in r.json()["detail"]
    _nothing_stored(s3, s, before)


def test_over_long_streamed_upload_is_cut_off_and_its_parts_aborted(limited, s3, admin):
    """No Content-Length (chunked): the file part is counted while it streams; at the limit the S3
    multipart upload (two 5 MiB parts already stored) is aborted."""
    url, s = limited
    before = catalog_ids(s.catalog_db_url)
    boundary = uuid.uuid4().hex

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nendless\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"endless.mp4\"\r\n"
               "Content-Type: video/mp4\r\n\r\n").encode()
        chunk = os.urandom(MiB)
        for _ in range(LIMIT // MiB + 8):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(f"{url}/videos", headers={**admin, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                   content=body(), timeout=120)
    assert r.status_code == 413, r.text
    assert "larger than" in r.json()["detail"]
    _nothing_stored(s3, s, before)


def test_over_long_title_is_422_and_stores_nothing(limited, s3, admin):
    url, s = limited
    before = catalog_ids(s.catalog_db_url)
    r = httpx.post(f"{url}/videos", headers=admin, data={"title": "x" * 5000},
                   files={"file": ("a.mp4", os.urandom(64 * 1024), "video/mp4")}, timeout=60)
    assert r.status_code == 422 and "longer than" in r.json()["detail"]
    _nothing_stored(s3, s, before)


def test_a_traversing_file_name_never_names_the_key(limited, s3, admin):
    url, s = limited
    r = httpx.post(f"{url}/videos", headers=admin, data={"title": "traversal"},
                   files={"file": ("../../../etc/passwd/..%2F..%2Fx.mp4", os.urandom(64 * 1024), "video/mp4")},
                   timeout=60)
    assert r.status_code == 201, r.text
    vid = r.json()["video_id"]
    assert r.json()["source_key"] == f"masters/{vid}/original.mp4"      # the key is the server's, not the name
    s3.head_object(Bucket=s.bucket_masters, Key=f"masters/{vid}/original.mp4")


TRAVERSALS = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd", "..\\..\\etc\\passwd",
              "....//....//etc/passwd", "%252e%252e%252fetc%252fpasswd", "x/../../../../etc/passwd"]
KEY_ROUTES = ["/videos/{}", "/videos/{}/play", "/videos/{}/similar", "/users/{}/recommendations", "/watch/{}",
              "/static/{}", "/videos/{}/ingest"]


def _raw(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """Send ``path`` byte for byte (no client-side dot-segment normalisation)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, headers={**headers, "X-Device-Id": "dev-1", "Content-Length": "0"})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_path_traversal_in_every_key_taking_route(limited, admin):
    url, s = limited
    viewer = headers_for(s, make_user(s))
    for template in KEY_ROUTES:
        method = "POST" if template.endswith("/ingest") else "GET"
        for attack in TRAVERSALS:
            for headers in ({}, viewer, admin):
                status, text = _raw(url, method, template.format(attack), headers)
                assert status in (400, 401, 403, 404, 405, 409, 422, 503) or (
                    template == "/watch/{}" and status == 200), (template, attack, status, text[:200])
                assert "root:x:0:0" not in text and "VODFLOW_" not in text and "def create_app" not in text
                if template == "/watch/{}":   # the page shell only: it never reads the id on the server
                    assert "<!doctype html>" in text.lower() or status == 404
