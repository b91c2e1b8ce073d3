"""Recommendation endpoints of the API over :class:`vodflow.recs.serving.RecsService`.

``GET /users/{user_id}/recommendations?limit=20``      (access token of that user, or an admin's)
``GET /videos/{video_id}/similar?limit=20``             (public; with a token: for that user)
``GET /recommendations/model``  which bundle is being served (ops / debugging)

Who may ask (``vodflow.auth``; docs/playback.md "Accounts, tokens and /play"):

* ``/users/{id}/recommendations`` needs an access token whose subject is ``id`` (401 without a
  token, 403 for another user's id); admins and ``service`` tokens may ask for anyone. The region
  is the account's country. ``?region=`` is kept for admins and service clients (to see the list
  "as from" a country); a viewer may only pass its own country (403 otherwise). For an admin
  without ``region``: the target account's country, or -- for a user id with no account (e.g. the
  simulator's viewers) -- worldwide titles only.
* ``/videos/{id}/similar`` is a public catalog read. With a viewer's token the region is the
  viewer's country and the viewer's watched titles are dropped; ``user_id=`` needs a token that may
  act for that user (itself, an admin or a service).

A malformed user id, region or out-of-range ``limit`` is a 422 with the reason; a video id that
is in neither the catalog nor the model is a 404. The rules that shape the lists are the service's
(:mod:`vodflow.recs.serving`).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vodflow.auth.deps import Auth, Principal, unauthorized
from vodflow.recs.serving import RecsService
from vodflow.settings import Settings, get_settings

MAX_LIMIT = 50  # the depth of the batch lists: the API never promises more than the DAG computes
DEFAULT_LIMIT = 20
_USER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_REGION = re.compile(r"^[A-Za-z]{2}$")


def _region(region: str | None) -> str | None:
    if region is None or region == "":
        return None
    if not _REGION.match(region):
        raise HTTPException(422, f"region {region!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, FR)")
    return region.upper()


def _user(user_id: str) -> str:
    if not _USER_ID.match(user_id):
        raise HTTPException(422, "user_id must be 1-128 characters of letters, digits and '_.:@-'")
    return user_id


LIMIT = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"number of titles, 1..{MAX_LIMIT}")
REGION = Query(None, description="ISO 3166-1 alpha-2 country (e.g. FR). Admins and service clients only; "
                                 "a viewer's region is its account country (it may pass only that one)")


def _caller_region(p: Principal | None, region: str | None) -> str | None:
    """The region of a request: a viewer's account country (a different ``region`` is a 403); for
    admins, service clients and anonymous callers the ``region`` parameter (None: worldwide only)."""
    reg = _region(region)
    if p is None or p.is_admin or p.is_service or p.user is None:
        return reg
    if reg is not None and reg != p.user.country:
        raise HTTPException(403, f"region {reg} is not your account's country ({p.user.country}); recommendations "
                                 "follow the account's country (only admins may pass another ?region=)")
    return p.user.country


def create_router(settings: Settings | None = None, model_name: str | None = None, *, auth: Auth | None = None,
                  **service_kw: Any) -> APIRouter:
    """The recommendation routes; ``service_kw`` go to :class:`RecsService` (refresh / cache / TTLs)."""
    s = settings or get_settings()
    auth = auth or Auth(s)
    service = RecsService(s, model_name, **service_kw)
    router = APIRouter(tags=["recommendations"])
    router.service = service  # type: ignore[attr-defined] - tests and ops reach the service here

    def respond(body: dict[str, Any], hit: bool) -> JSONResponse:
        return JSONResponse(body, headers={"X-Cache": "hit" if hit else "miss",
                                           "Cache-Control": "private, max-age=60"})

    @router.get("/users/{user_id}/recommendations", summary="Top titles for a user (business rules applied)",
                responses={401: {"description": "no valid access token"},
                           403: {"description": "another user's recommendations, or a region that is not "
                                                "the account's country"},
                           422: {"description": "malformed user id, region or limit"}})
    async def user_recommendations(user_id: str, limit: int = LIMIT, region: str | None = REGION,
                                   principal: Principal = Depends(auth.principal)):
        uid = _user(user_id)
        if not principal.may_act_for(uid):
            raise HTTPException(403, f"you are logged in as {principal.id!r}: you may read only your own "
                                     f"recommendations (GET /users/{principal.id}/recommendations)")
        reg = _caller_region(principal, region)
        if reg is None and region is None and (principal.is_admin or principal.is_service):
            store = auth.store
            target = store.get(uid) if store.local else await run_in_threadpool(store.get, uid)
            reg = target.country if target is not None else None
        key = ("user", uid, reg, limit)

        def compute() -> dict[str, Any]:
            return service.recommend(uid, reg, limit)

        if service.ready():  # no I/O left in the request: ~1 ms of numpy, on the event loop (no thread hop)
            body, hit = service.cached(key, compute)
        else:  # the worker's first requests (loading the bundle / catalog) or a Redis cache: blocking I/O
            await run_in_threadpool(service.warm)
            body, hit = await run_in_threadpool(service.cached, key, compute)
        return respond(body, hit)

    @router.get("/videos/{video_id}/similar", summary="Because you watched: titles close in item-factor space",
                responses={401: {"description": "user_id given without a valid access token"},
                           403: {"description": "user_id of another user, or a region that is not the "
                                                "account's country"},
                           404: {"description": "video unknown to the catalog and the model"},
                           422: {"description": "malformed region, user id or limit"}})
    def similar_videos(video_id: str, limit: int = LIMIT, region: str | None = REGION,
                       user_id: str | None = Query(None, description="also drop what this user watched (needs "
                                                                     "a token that may act for that user)"),
                       principal: Principal | None = Depends(auth.optional_principal)):
        reg = _caller_region(principal, region)
        uid = _user(user_id) if user_id else None
        if uid is not None and principal is None:
            raise unauthorized("user_id needs an access token of that user: log in at POST /auth/login", error=None)
        if uid is not None and not principal.may_act_for(uid):
            raise HTTPException(403, f"you are logged in as {principal.id!r}: user_id may only be your own")
        if uid is None and principal is not None and principal.user is not None and not principal.is_admin:
            uid = principal.id
        body, hit = service.cached(("similar", video_id, reg, limit, uid),
                                   lambda: service.similar(video_id, reg, limit, uid))
        if body is None:
            raise HTTPException(404, f"no video with id {video_id!r} in the catalog or the model")
        return respond(body, hit)

    @router.get("/recommendations/model", summary="The model bundle being served (run ids and errors: admin)")
    async def serving_model(request: Request, principal: Principal | None = Depends(auth.optional_principal)):
        b = await run_in_threadpool(service.refresh)
        operator = principal is not None and principal.is_admin
        # MLflow run ids, artifact paths and error texts are internal (docs/security.md): an admin's only
        bundle = (b.info if operator else {"model_version": b.info.get("model_version")}) if b is not None else None
        return {"model_name": service.model_name, "champion_version": service.champion,
                "bundle": bundle, "last_error": service.last_error if operator else None,
                "users": int(len(b.model.user_ids)) if b is not None else 0,
                "titles": int(len(b.model.item_ids)) if b is not None else 0}

    return router
