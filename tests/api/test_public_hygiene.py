"""No response a viewer can reach carries a filesystem path, a master's object key, an internal id
(Airflow run id) or a stack trace (issue 17, docs/security.md).

The real API app (``create_app``) on a real uvicorn server over a private catalog whose rows carry
exactly what the ingest stores: a ready title whose probe names the master's path on the worker,
a failed title whose error quotes that path, titles with Airflow run ids. The walk takes EVERY route
of the app's route table (so a route added later is walked too), fills its path parameters with
those titles' ids, the viewer's own id and traversal attempts, and calls every method without a
token and with a viewer's token.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from apikit import serve, settings_with
from authkit import admin_headers, headers_for, make_user
from starlette.routing import Mount, Route

HOME_MARK = "/srv/vodflow-worker-7"          # a server path as the ingest worker would store it
RUN_FAILED = f"ingest__{uuid.uuid4()}__k0-3"
RUN_READY = f"ingest__{uuid.uuid4()}__k1-0"
PATH_PARAM_VALUES = ("ready", "failed", "processing", "unknown", "../../etc/passwd", "..%2F..%2Fsettings.py")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from vodflow.api.app import create_app
    from vodflow.catalog import Catalog

    tmp = tmp_path_factory.mktemp("hygiene")
    url = f"sqlite:///{tmp / 'catalog.db'}"
    cat = Catalog(url)
    ready = cat.create_video("Public Title", "masters/ready-master/original.mp4").id
    cat.start_processing(ready, RUN_READY)
    cat.mark_ready(ready, [{"name": "360p", "width": 640, "height": 360, "fps": 25.0, "codecs": "avc1.64001e",
                            "bandwidth": 800_000, "playlist_key": f"videos/{ready}/p1/360p/index.m3u8"}],
                   {"hls": f"videos/{ready}/p1/master.m3u8", "dash": f"videos/{ready}/p1/manifest.mpd"},
                   thumbnails={"posters": {"320": f"videos/{ready}/p1/thumbs/poster_320.jpg"}},
                   source_props={"path": f"{HOME_MARK}/work/{ready}/master.mp4", "size_bytes": 1234,
                                 "duration": 5.28, "width": 1280, "height": 720, "fps": 25.0,
                                 "video_codec": "h264", "tags": {"encoder": f"{HOME_MARK}/x"},
                                 "ladder": {"mode": "per-title", "analysis_key": f"{HOME_MARK}/a.json"}},
                   run_id=RUN_READY)
    failed = cat.create_video("Broken Upload", "masters/failed-master/original.mp4").id
    cat.start_processing(failed, RUN_FAILED)
    cat.mark_failed(failed, f"rejected: ffprobe: {HOME_MARK}/work/{failed}/master.mp4: Invalid data; "
                            f"the master is at s3://vodflow-masters/masters/failed-master/original.mp4",
                    run_id=RUN_FAILED)
    processing = cat.create_video("Encoding", "masters/processing-master/original.mp4").id
    cat.start_processing(processing, f"ingest__{processing}__k2-0")
    s = settings_with(VODFLOW_CATALOG_DB_URL=url)
    viewer = make_user(s)
    app = create_app(s)
    with serve(app) as base:
        yield {"url": base, "app": app, "s": s, "tmp": str(tmp), "viewer": viewer,
               "ids": {"ready": ready, "failed": failed, "processing": processing, "unknown": str(uuid.uuid4())},
               "viewer_headers": headers_for(s, viewer), "admin_headers": admin_headers(s)}


def _forbidden(site) -> list[str]:
    """Strings no public answer may contain."""
    s = site["s"]
    return [HOME_MARK, str(s.home), site["tmp"], "masters/", "s3://", "ingest__", RUN_FAILED, RUN_READY,
            "Traceback", 'File "', s["VODFLOW_S3_SECRET_KEY"], s.bucket_masters]


ABS_PATH = re.compile(r"(?<![\w.:/%-])/(?:work|tmp|home|root|srv|var|usr|etc|opt)/[\w.-]+")


def _leaks(site, r: httpx.Response) -> list[str]:
    text = r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
    found = [f for f in _forbidden(site) if f and f in text]
    found += ABS_PATH.findall(text)
    return found


def _routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route in the app's table (Mounts: their root)."""
    out = []
    for r in app.routes:
        if isinstance(r, Route):
            for m in sorted((r.methods or {"GET"}) - {"HEAD"}):
                out.append((m, r.path))
        elif isinstance(r, Mount):
            out.append(("GET", r.path + "/"))
    return out


def _fill(site, template: str) -> list[str]:
    names = re.findall(r"{(\w+)(?::\w+)?}", template)
    if not names:
        return [template]
    paths = []
    for v in PATH_PARAM_VALUES:
        value = site["ids"].get(v, v)
        path = template
        for n in names:
            val = site["viewer"].id if n == "user_id" and v == "ready" else value
            path = re.sub(r"{%s(?::\w+)?}" % n, val, path)
        paths.append(path)
    return paths


def test_every_public_route_answers_without_paths_keys_or_internal_ids(site):
    routes = _routes(site["app"])
    templates = {p for _, p in routes}
    # the table really is the app's: catalog, play, license, events, recs, web, edge verifier, docs
    for must in ("/videos/{video_id}", "/videos", "/videos/{video_id}/play", "/license/clearkey", "/events",
                 "/auth/login", "/auth/logout", "/edge/verify", "/static/{path:path}", "/openapi.json",
                 "/recommendations/model", "/healthz"):
        assert must in templates, f"route {must} is not in the app's table"
    calls, leaks = 0, []
    with httpx.Client(base_url=site["url"], timeout=60) as c:
        for method, template in routes:
            for path in _fill(site, template):
                for headers in ({}, site["viewer_headers"]):
                    r = c.request(method, path, headers=headers,
                                  content=b'{"kids":["AAECAwQFBgcICQoLDA0ODw"],"email":"x@y.z"}'
                                  if method in ("POST", "PUT", "PATCH") else None)
                    calls += 1
                    assert r.status_code < 500 or r.status_code == 503, (method, path, r.status_code, r.text)
                    if bad := _leaks(site, r):
                        leaks.append((method, path, "viewer" if headers else "anonymous", r.status_code, bad))
    assert calls > 100
    assert not leaks, "public answers leak internals:\n" + "\n".join(map(str, leaks))


def _viewer_headers(site) -> dict[str, str]:
    from vodflow.accounts import get_user_store

    return headers_for(site["s"], get_user_store(site["s"].catalog_db_url).get(site["viewer"].id))


def test_public_video_view_is_a_whitelist_and_operators_see_the_full_row(site):
    ids = site["ids"]
    with httpx.Client(base_url=site["url"], timeout=30) as c:
        pub = c.get(f"/videos/{ids['ready']}").json()
        assert pub["duration_s"] == 5.28 and pub["source_props"] == {"duration": 5.28, "width": 1280, "height": 720,
                                                                      "fps": 25.0, "video_codec": "h264"}
        assert pub["manifests"]["hls"].startswith(f"videos/{ids['ready']}/")      # edge names the player needs
        for hidden in ("source_key", "error", "last_run_id", "ingest_attempts"):
            assert hidden not in pub, hidden
        viewer = _viewer_headers(site)          # fresh: the walk above signed the first token out
        assert c.get(f"/videos/{ids['ready']}", headers=viewer).json() == pub
        failed = c.get(f"/videos/{ids['failed']}").json()
        assert failed["status"] == "failed" and "error" not in failed
        # the storefront lists ready titles only; other statuses need an operator
        listed = c.get("/videos").json()["videos"]
        assert [v["id"] for v in listed] == [ids["ready"]]
        r = c.get("/videos", params={"status": "failed"}, headers=viewer)
        assert r.status_code == 403 and "admin" in r.json()["detail"]
        # the operator (admin token) sees everything
        op = c.get(f"/videos/{ids['failed']}", headers=site["admin_headers"]).json()
        assert op["source_key"] == "masters/failed-master/original.mp4" and op["last_run_id"] == RUN_FAILED
        assert HOME_MARK in op["error"]
        every = c.get("/videos", headers=site["admin_headers"]).json()["videos"]
        assert {v["id"] for v in every} == {ids["ready"], ids["failed"], ids["processing"]}
        assert c.get("/videos", params={"status": "failed"}, headers=site["admin_headers"]).json()["count"] == 1
        # a bad token is refused, not silently treated as anonymous
        assert c.get(f"/videos/{ids['ready']}", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_unexpected_errors_answer_without_a_trace(site):
    """A crash inside a handler is logged; the answer is a plain 500 without exception text."""
    from vodflow.api.app import create_app

    broken = settings_with(VODFLOW_CATALOG_DB_URL=f"sqlite:///{site['tmp']}/catalog.db")
    app = create_app(broken)

    @app.get("/_boom")
    async def boom():
        raise RuntimeError(f"secret detail {HOME_MARK}/boom.py")

    with serve(app) as base:
        r = httpx.get(f"{base}/_boom", timeout=30)
    assert r.status_code == 500 and r.json() == {"detail": "internal error (logged by the API)"}
    assert not _leaks(site, r)
