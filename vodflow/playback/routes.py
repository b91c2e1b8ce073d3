"""``GET /videos/{video_id}/play``: may this user play this title on this device, and how.

Checks, in order (each answer names the fix):

=====  =========================================================================================
401    no / expired / tampered access token (log in at ``POST /auth/login``)
400    no ``X-Device-Id`` header (or a malformed one)
404    no such title
409    the title is not ``ready`` (still ingesting, or failed)
403    ``reason: subscription_inactive`` -- the account's subscription is not ``active``
403    ``reason: not_available_in_country`` -- the title's ``regions`` do not include the account's
       country (a title with no regions is worldwide)
=====  =========================================================================================

Admins pass the subscription and country checks (catalog QA); viewers never do.

On success (``Cache-Control: no-store``)::

    {"video_id", "expires_at",                        # epoch s, when the signed URLs stop working
     "hls_url", "dash_url",                           # edge URLs with the signed query appended
     "signed_query": "Policy=..&Signature=..&Key-Pair-Id=..",   # append to EVERY edge request
     "cookies": {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"},
     "license_url",                                   # POST /license/clearkey on this API
     "license_token", "license_expires_at",           # bound to user, title, device; 1 h
     "drm": {"clearkey": {"kids": [hex, ...]}} | null}

The signature is a CloudFront custom policy over ``{edge}/videos/{id}/*`` (``vodflow.cdn.signing``)
valid ``VODFLOW_PLAY_URL_TTL`` seconds (6 h: a long film plus pauses; the license token, 1 h, is
what limits how long a device can start decrypting). Expiries are rounded up to the next 5 minutes,
so one RSA signature per title per 5 minutes is shared by every request (it names no user: the
entitlement checks above and the user-bound license token are what is personal); the URLs are valid
for at least ``VODFLOW_PLAY_URL_TTL`` minus 5 minutes (a new step's signature is made in the
background while the last one is still served).

Speed (target p99 < 10 ms at 1,000 req/s): the user is one primary-key lookup on a pooled DB-API
connection (the only thread-pool hop; the token is verified without the database, and a token
already verified is only re-checked for expiry); a ready title (status, regions, manifest keys, key
ids) is cached and re-read in the background once it is ``TITLE_TTL_S`` seconds old
(``vodflow.playback.refresh_ahead``: no request waits for the re-read) -- only ready titles are
cached, so a title becomes playable at once and a region change counts within about that long; the
signature of each title is renewed the same way; no migrations or key files are touched per request;
the handler itself runs on the event loop and leaves it only on a cache miss; it reads the token and
the device header itself (FastAPI's dependency solving cost ~20 % of the request's CPU), and its route
is the app's first. The caches are :mod:`vodflow.playback.titles`.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from vodflow.accounts import UserRecord
from vodflow.auth.deps import Auth
from vodflow.auth.tokens import LICENSE_TTL, issue_license_token
from vodflow.catalog.models import VideoStatus
from vodflow.cdn.signing import edge_url
from vodflow.drm.routes import PATH as LICENSE_PATH
from vodflow.playback.titles import TITLE_TTL_S, Signatures, Titles
from vodflow.settings import Settings, get_settings

_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PLAY_PATH = "/videos/{video_id}/play"


# what Depends(bearer_scheme) and Header("X-Device-Id") would have put in the OpenAPI document
PLAY_OPENAPI = {
    "security": [{"access token": []}],
    "parameters": [{"name": "X-Device-Id", "in": "header", "required": False, "schema": {"type": "string"},
                    "description": "A stable id of the playing device (1-128 of letters, digits and '._:-'); the "
                                   "license is bound to it."}]}


def _forbidden(reason: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "reason": reason}, status_code=403)


def _renew_hint(s: Settings, user: UserRecord) -> str:
    url = s["VODFLOW_SUBSCRIBE_URL"]
    if url:
        return f"renew at {url}"
    return f"renew it (an admin runs `vodflow users set {user.email} --subscription active`)"


def create_router(settings: Settings | None = None, auth: Auth | None = None, *,
                  title_ttl_s: float = TITLE_TTL_S) -> APIRouter:
    s = settings or get_settings()
    auth = auth or Auth(s)
    titles = Titles(s, title_ttl_s)
    signatures = Signatures(s, s.play_url_ttl)
    router = APIRouter(tags=["playback"])
    router.titles = titles  # type: ignore[attr-defined] - tests and ops reach the caches here
    router.signatures = signatures  # type: ignore[attr-defined]

    def license_url(request: Request) -> str:
        base = s["VODFLOW_API_PUBLIC_URL"] or str(request.base_url)
        return base.rstrip("/") + LICENSE_PATH

    @router.get(PLAY_PATH, summary="Signed manifest URLs and a license token for one device",
                responses={400: {"description": "X-Device-Id missing or malformed"},
                           401: {"description": "no valid access token"},
                           403: {"description": "subscription not active, or title not available in the "
                                                "account's country (`reason` says which)"},
                           404: {"description": "unknown title"},
                           409: {"description": "title not ready"}},
                openapi_extra=PLAY_OPENAPI)
    async def play(video_id: str, request: Request) -> Any:
        # what the OpenAPI document describes; requests are answered by the plain route below, which the
        # router lists first (this one is never reached in the app)
        return await answer(request)

    async def answer(request: Request) -> Response:
        video_id = request.path_params["video_id"]
        user = await auth.user_of_request(request)
        x_device_id = request.headers.get("x-device-id")
        if not x_device_id:
            return JSONResponse({"detail": "the X-Device-Id header is missing: send a stable id of this device "
                                           "(the license token is bound to it)"}, status_code=400)
        if not _DEVICE_ID.match(x_device_id):
            return JSONResponse({"detail": "X-Device-Id must be 1-128 characters of letters, digits and '._:-'"},
                                status_code=400)
        try:
            vid = str(uuid.UUID(video_id))
        except ValueError:
            vid = None
        title = (titles.cached(vid) or await run_in_threadpool(titles.get, vid)) if vid else None
        if title is None:
            return JSONResponse({"detail": f"no video with id {video_id!r} in the catalog"}, status_code=404)
        if title.status is not VideoStatus.READY:
            return JSONResponse({"detail": f"video {vid} is {title.status.value!r}, not ready to play yet; "
                                           f"follow GET /videos/{vid} until it is 'ready'",
                                 "status": title.status.value}, status_code=409)
        if not title.hls_key and not title.dash_key:
            return JSONResponse({"detail": f"video {vid} is ready but has no manifest; re-run its ingest "
                                           f"(POST /videos/{vid}/ingest after it failed)"}, status_code=409)
        if not user.is_admin:
            if not user.subscription_active:
                st = user.subscription_status.value
                what = "there is no subscription" if st == "none" else f"subscription is {st}"
                return _forbidden("subscription_inactive", f"{what}: {_renew_hint(s, user)}")
            if not title.available_in(user.country):
                return _forbidden("not_available_in_country",
                                  f"this title is not available in your country ({user.country}); it is "
                                  f"available in {', '.join(title.regions)}")
        signed = signatures.cached(vid) or await run_in_threadpool(signatures.get, vid)
        now = int(time.time())
        lic = issue_license_token(s, user_id=user.id, video_id=vid, device_id=x_device_id, ttl_s=LICENSE_TTL,
                                  epoch=user.token_epoch)

        def url(key: str | None) -> str | None:
            return f"{edge_url(s, '/' + key.lstrip('/'))}?{signed.query}" if key else None

        body = {"video_id": vid, "expires_at": signed.expires_at, "hls_url": url(title.hls_key),
                "dash_url": url(title.dash_key), "signed_query": signed.query, "cookies": dict(signed.cookies),
                "license_url": license_url(request), "license_token": lic, "license_expires_at": now + LICENSE_TTL,
                "device_id": x_device_id,
                "drm": {"clearkey": {"kids": list(title.kids)}} if title.kids else None}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # A plain Starlette route, matched before the documented one: FastAPI's per-request solving of even a
    # path parameter and a Request (solve_dependencies, ~17 % of /play's CPU in a profile) is skipped; the
    # token and X-Device-Id are read in ``answer`` for the same reason (Depends()/Header() cost ~20 %).
    # The 401s of the token checks are the app's HTTPException answers either way.
    router.routes.insert(0, Route(PLAY_PATH, answer, methods=["GET"], include_in_schema=False, name="play_plain"))
    return router
