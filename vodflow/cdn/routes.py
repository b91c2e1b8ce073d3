"""``GET /edge/verify``: the edge's ``auth_request`` target.

nginx sends every ``/videos/...`` request here first (``X-Original-URI`` = the request URI with its
query, the client's cookies, ``X-Real-IP``) and serves the object only on a 2xx answer. 204 = granted,
403 = refused with the reason in ``X-Edge-Deny-Reason``. A path that is not canonical (``..``, ``//``,
encoded separators: :func:`~vodflow.cdn.signing.canonical_path`) is refused as ``malformed`` before the
signature is looked at -- nginx serves the normalised path, the policy would match the raw one.
The answer carries ``Cache-Control`` so nginx keeps it briefly, keyed by the full URI including the
signature (and the cookies): at most ``AUTH_CACHE_S`` seconds, and a grant never longer than its
policy's remaining lifetime.

The check is CPU only (one RSA verify per distinct policy+signature, then dictionary lookups), so it runs
inside the API process; no I/O, no catalog access.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from vodflow.cdn.signing import (MALFORMED, MISSING, SignatureError, canonical_path, edge_url, split_signing_params,
                                 verifier_for)
from vodflow.settings import Settings

AUTH_CACHE_S = 30
DENY_CACHE_S = 10
DENY_HEADER = "X-Edge-Deny-Reason"


def create_router(s: Settings) -> APIRouter:
    router = APIRouter(tags=["edge"])

    @router.get("/edge/verify", status_code=204, summary="Verify a signed edge request (nginx auth_request)",
                responses={204: {"description": "granted"}, 403: {"description": "refused; reason in "
                                                                                 f"{DENY_HEADER}"}})
    async def edge_verify(request: Request) -> Response:
        uri = request.headers.get("x-original-uri")
        if not uri:
            return _deny(MISSING, "no X-Original-URI header (this endpoint is called by the edge)")
        if not canonical_path(uri.partition("?")[0]):
            return _deny(MALFORMED, "the path has a dot segment, an empty segment or an encoded separator: "
                                    "request the object's own path")
        now = time.time()
        url, params = split_signing_params(uri, request.cookies)
        try:
            grant = verifier_for(s).check(edge_url(s, url), params, now, request.headers.get("x-real-ip"))
        except SignatureError as e:
            return _deny(e.reason, e.detail)
        ttl = max(0, min(AUTH_CACHE_S, int(grant.date_less_than - now) - 1))
        return Response(status_code=204, headers={"Cache-Control": f"max-age={ttl}" if ttl else "no-store"})

    return router


def _deny(reason: str, detail: str) -> Response:
    return Response(status_code=403, headers={DENY_HEADER: reason, "X-Edge-Deny-Detail": detail[:300].encode("ascii", "replace").decode(),
                                              "Cache-Control": f"max-age={DENY_CACHE_S}"})
