"""Pages router: ``/``, ``/login``, ``/watch/{id}``, ``/static/...`` and ``GET /web/catalog``.

The pages are small HTML shells; everything dynamic happens in the bundles built from ``web/src``
(``make web`` = ``npm ci && npm run build`` in ``web/``), which are not committed. When the bundle
is missing the API still starts (the JSON endpoints do not need it), logs an error naming
``make web``, and the pages answer 503 with the same fix.

Posters on the catalog page: the edge serves only signed requests, and a catalog visitor has not
called ``/play``. ``GET /web/catalog`` therefore signs, per title, a CloudFront custom policy for the
title's ``thumbs/`` prefix only (posters and storyboard sprites, never a segment or a manifest),
with an expiry rounded up to the next hour plus one, so the URL (and the browser and edge caches
that key on it) stay the same for an hour.
"""

from __future__ import annotations

import html
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from vodflow.settings import REPO_ROOT, Settings, get_settings

log = logging.getLogger("vodflow.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
ENTRIES = ("catalog.js", "login.js", "watch.js", "style.css")
POSTER_TTL_S = 3600
FIX = "build it with `make web` (npm ci && npm run build in web/) and restart the API"


class BundleMissing(RuntimeError):
    """The built front end is not in vodflow/web/static/."""


def bundle_info(static_dir: Path = STATIC_DIR) -> dict[str, Any]:
    """The build manifest written by web/build.mjs; raises :class:`BundleMissing` naming ``make web``."""
    info_file = static_dir / "build-info.json"
    missing = [e for e in ENTRIES if not (static_dir / e).is_file()]
    if not info_file.is_file() or missing:
        what = ", ".join(missing) if missing else "build-info.json"
        # named relative to the checkout: this text reaches public pages (no server paths, docs/security.md)
        where = static_dir.name if not static_dir.is_relative_to(REPO_ROOT) else static_dir.relative_to(REPO_ROOT)
        raise BundleMissing(f"the web player bundle is missing from {where}/ ({what}): {FIX}")
    return json.loads(info_file.read_text())


def _shell(title: str, script: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · vodflow</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css">
<script type="module" src="/static/{script}"></script>
</head>
<body>
<header><a class="brand" href="/">vodflow</a><div id="account"></div></header>
<main>
<div id="errors" hidden></div>
{body}
</main>
</body>
</html>
"""


CATALOG_PAGE = _shell("Catalog", "catalog.js", """
<section id="recs" hidden><h2>Recommended for you</h2><div class="row"></div></section>
<h1>Catalog</h1>
<div id="grid" class="grid"></div>
""")

LOGIN_PAGE = _shell("Sign in", "login.js", """
<form id="login-form" class="login" autocomplete="on">
  <h1>Sign in</h1>
  <input name="email" type="email" placeholder="Email" autocomplete="username" required>
  <input name="password" type="password" placeholder="Password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
""")

WATCH_PAGE = _shell("Watch", "watch.js", """
<h1 id="title"></h1>
<div class="player">
  <video id="video" playsinline preload="auto"></video>
  <div class="controls">
    <button id="toggle" type="button">Play</button>
    <input id="seek" type="range" min="0" max="1000" value="0" aria-label="Seek">
    <div id="preview" class="preview" hidden></div>
    <span id="time" class="time">0:00 / 0:00</span>
    <span id="rung" class="rung" title="rung playing"></span>
    <button id="mute" type="button">Mute</button>
  </div>
</div>
<section id="recs" hidden><h2>More for you</h2><div class="row"></div></section>
""")

_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class _Static(StaticFiles):
    """Bundles: revalidate the fixed entry names, cache content-hashed chunks for a year."""

    def file_response(self, full_path, stat_result, scope, status_code=200):  # type: ignore[override]
        resp = super().file_response(full_path, stat_result, scope, status_code)
        immutable = "/chunks/" in str(full_path)
        resp.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(s: Settings) -> str:
    """Scripts only from this origin (the access token lives in sessionStorage: no injected script may
    read it); media, images and fetches from this origin and the edge; MSE media from blob: URLs;
    hls.js's transmux worker from a blob: URL."""
    others = " ".join(o for o in {_origin(s["VODFLOW_EDGE_URL"]), _origin(s["VODFLOW_API_PUBLIC_URL"])} if o)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {others}; media-src 'self' blob: {others}; connect-src 'self' {others}; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'")


def _poster_expiry(now: float | None = None) -> int:
    """Next full hour plus one hour: the signed poster URLs are stable within an hour."""
    now = time.time() if now is None else now
    return (int(now) // POSTER_TTL_S + 2) * POSTER_TTL_S


def _thumbs_prefix(rec) -> str | None:
    """``videos/{id}/{publish_id}/thumbs/`` of a ready title, from its poster keys."""
    posters = (rec.thumbnails or {}).get("posters") or {}
    for key in posters.values():
        if isinstance(key, str) and "/thumbs/" in key:
            return key[: key.index("/thumbs/") + len("/thumbs/")]
    return None


def create_router(settings: Settings | None = None, static_dir: Path = STATIC_DIR) -> APIRouter:
    s = settings or get_settings()
    router = APIRouter(tags=["web player"])
    try:
        info = bundle_info(static_dir)
        log.info("web player bundle built %s (%s files)", info.get("built_at"), len(info.get("files", [])))
        missing_reason = None
    except BundleMissing as e:
        log.error("%s", e)
        missing_reason = str(e)
    static = _Static(directory=str(static_dir), check_dir=False)
    signed_cache: dict[tuple[str, int], Any] = {}   # (thumbs prefix, expiry) -> SignedQuery; expiry is hourly

    headers = {**_PAGE_HEADERS, "Content-Security-Policy": content_security_policy(s)}

    def page(body: str) -> Response:
        if missing_reason and not (static_dir / "build-info.json").is_file():
            return HTMLResponse(f"<!doctype html><title>vodflow</title><h1>Web player not built</h1>"
                                f"<p>{html.escape(missing_reason)}</p>", status_code=503,
                                headers={"Retry-After": "60"})
        return HTMLResponse(body, headers=headers)

    @router.get("/", include_in_schema=False)
    async def catalog_page():
        return page(CATALOG_PAGE)

    @router.get("/login", include_in_schema=False)
    async def login_page():
        return page(LOGIN_PAGE)

    @router.get("/watch/{video_id}", include_in_schema=False)
    async def watch_page(video_id: str):
        return page(WATCH_PAGE)

    @router.api_route("/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static_file(path: str, request: Request):
        if not (static_dir / "build-info.json").is_file():
            return JSONResponse({"detail": bundle_missing_detail(static_dir)}, status_code=503)
        return await static.get_response(path, request.scope)

    @router.get("/web/catalog", summary="Ready titles for the catalog page, with signed poster URLs")
    async def web_catalog(request: Request, limit: int = Query(200, ge=1, le=1000), offset: int = Query(0, ge=0)):
        cat = request.app.state.catalog
        recs = await run_in_threadpool(cat.list_videos, "ready", limit=limit, offset=offset)
        expires = _poster_expiry()
        videos = await run_in_threadpool(lambda: [_card(s, r, expires, signed_cache) for r in recs])
        return JSONResponse({"videos": videos, "count": len(videos), "posters_expire_at":
                             datetime.fromtimestamp(expires, timezone.utc).isoformat()},
                            headers={"Cache-Control": "no-cache"})

    return router


def bundle_missing_detail(static_dir: Path = STATIC_DIR) -> str:
    try:
        bundle_info(static_dir)
    except BundleMissing as e:
        return str(e)
    return "the web player bundle is incomplete: " + FIX


def _card(s: Settings, rec, expires: int, cache: dict | None = None) -> dict[str, Any]:
    """One title of the catalog grid; poster URLs signed for the title's thumbs/ prefix."""
    from vodflow.cdn.signing import edge_url, sign_prefix

    posters = {int(w): k for w, k in ((rec.thumbnails or {}).get("posters") or {}).items() if str(w).isdigit()}
    prefix = _thumbs_prefix(rec)
    poster_url = srcset = None
    if posters and prefix:
        signed = cache.get((prefix, expires)) if cache is not None else None
        if signed is None:
            signed = sign_prefix(s, "/" + prefix, expires)
            if cache is not None:
                if len(cache) > 10000:
                    cache.clear()
                cache[(prefix, expires)] = signed
        urls = {w: f"{edge_url(s, '/' + k)}?{signed.query}" for w, k in sorted(posters.items())}
        small = [w for w in urls if w >= 320] or list(urls)
        poster_url = urls[min(small)]
        srcset = ", ".join(f"{u} {w}w" for w, u in urls.items())
    props = rec.source_props or {}
    return {"id": rec.id, "title": rec.title, "duration_s": props.get("duration"), "regions": rec.regions,
            "poster_url": poster_url, "poster_srcset": srcset,
            "ready_at": rec.ready_at.isoformat() if rec.ready_at else None}
