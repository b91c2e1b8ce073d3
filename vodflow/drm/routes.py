"""``POST /license/clearkey``: the W3C ClearKey license exchange, for a valid license token only.

Request (what the browser's ClearKey CDM emits as its license request, posted as-is by
shaka-player / hls.js, any content type)::

    POST /license/clearkey
    Authorization: Bearer <license_token of GET /videos/{id}/play>
    X-Device-Id: <the device id /play was called with>

    {"kids": ["ASNFZ4mrze8BI0VniavN7w"], "type": "temporary"}      # base64url, no padding

Answer (a JSON Web Key set, https://www.w3.org/TR/encrypted-media/#clear-key-license-format)::

    {"keys": [{"kty": "oct", "kid": "ASNFZ4mrze8BI0VniavN7w", "k": "ABEiM0RVZneImaq7zN3u_w"}],
     "type": "temporary"}

The title is the one that owns the requested key ids (``content_keys``); the token must be a
license token for that title and that device (``vodflow.auth.tokens.verify_license_token``).

* 400 malformed body (not JSON, no ``kids``, a kid that is not 16 bytes of base64url, more than
  :data:`MAX_KIDS`, kids of two titles, an unsupported ``type``) or no ``X-Device-Id``;
* 401 no bearer token (``WWW-Authenticate: Bearer``);
* 403 ``{"detail", "reason"}`` token expired / for another title / another device / bad signature /
  signed out (``signed_out``: the account signed out after the token was issued, or is gone);
* 404 none of the key ids belongs to a title.

Only keys of that title are answered, never other kids from the request. Responses are
``Cache-Control: no-store``. The page and the API share an origin (the player is served by the
API), so no CORS headers are needed here.
"""

from __future__ import annotations

import base64
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vodflow.drm.keystore import DrmKeyError, KeyStore, b64url_to_hex, kid_to_b64url
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.drm.license")

PATH = "/license/clearkey"
MAX_KIDS = 16
MAX_BODY = 16 * 1024
SESSION_TYPES = ("temporary",)
NO_STORE = {"Cache-Control": "no-store"}


class LicenseRequestError(ValueError):
    """A malformed ClearKey license request (400)."""


def parse_license_request(body: bytes) -> tuple[list[str], str]:
    """(kids as hex, session type) of a W3C ClearKey license request; LicenseRequestError otherwise."""
    if len(body) > MAX_BODY:
        raise LicenseRequestError(f"license request larger than {MAX_BODY} bytes")
    try:
        req = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LicenseRequestError(f"the license request is not JSON ({e}); send the ClearKey CDM's message "
                                  '{"kids": [base64url key ids], "type": "temporary"}') from None
    if not isinstance(req, dict) or not isinstance(req.get("kids"), list) or not req["kids"]:
        raise LicenseRequestError('the license request needs "kids": a non-empty list of base64url key ids')
    if len(req["kids"]) > MAX_KIDS:
        raise LicenseRequestError(f"at most {MAX_KIDS} key ids per license request")
    kids = []
    for k in req["kids"]:
        try:
            kids.append(b64url_to_hex(k))
        except ValueError as e:
            raise LicenseRequestError(str(e)) from None
    typ = req.get("type", "temporary")
    if typ not in SESSION_TYPES:
        raise LicenseRequestError(f"session type {typ!r} is not supported (only {', '.join(SESSION_TYPES)})")
    return list(dict.fromkeys(kids)), typ


def jwk_set(keys: dict[str, str], typ: str = "temporary") -> dict:
    """``{kid hex: key hex}`` as a ClearKey JSON Web Key set."""
    return {"keys": [{"kty": "oct", "kid": kid_to_b64url(kid),
                      "k": base64.urlsafe_b64encode(bytes.fromhex(key)).rstrip(b"=").decode()}
                     for kid, key in keys.items()],
            "type": typ}


def _error(status: int, detail: str, reason: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "reason": reason}, status_code=status, headers={**NO_STORE, **(headers or {})})


def create_router(s: Settings | None = None, keystore: KeyStore | None = None) -> APIRouter:
    s = s or get_settings()
    store = keystore or KeyStore(s)
    router = APIRouter(tags=["drm"])

    def users():
        from vodflow.accounts import get_user_store

        return get_user_store(s.catalog_db_url)

    @router.post(PATH, summary="W3C ClearKey license exchange (license token of /play required)",
                 responses={400: {"description": "malformed license request or no X-Device-Id"},
                            401: {"description": "no license token"},
                            403: {"description": "license token expired, for another title or device, or invalid"},
                            404: {"description": "unknown key ids"}})
    async def clearkey_license(request: Request):
        from vodflow.auth.tokens import LicenseTokenError, verify_license_token

        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        device_id = request.headers.get("x-device-id", "").strip()
        try:
            kids, typ = parse_license_request(await request.body())
        except LicenseRequestError as e:
            return _error(400, str(e), "malformed")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "no license token: send `Authorization: Bearer <license_token of "
                               "GET /videos/{id}/play>`", "no_token", {"WWW-Authenticate": 'Bearer realm="license"'})
        if not device_id:
            return _error(400, "no X-Device-Id header: send the device id /play was called with", "no_device_id")
        try:
            owners = await run_in_threadpool(store.owners, kids)
        except DrmKeyError as e:
            log.error("license: %s", e)
            return _error(500, "the key store is unavailable", "keystore")
        titles = set(owners.values())
        if not titles:
            return _error(404, "none of the requested key ids belongs to a title", "unknown_kid")
        if len(titles) > 1:
            return _error(400, "the key ids belong to more than one title: request one title's keys", "many_titles")
        video_id = titles.pop()
        try:
            claims = verify_license_token(s, token.strip(), video_id=video_id, device_id=device_id)
        except LicenseTokenError as e:
            reason = getattr(e, "code", "invalid")
            log.info("license refused for video %s: %s", video_id, reason)
            return _error(403, f"license refused: {getattr(e, 'reason', str(e))}", reason)
        account = await run_in_threadpool(users().get, claims.user_id)
        if account is None or account.token_epoch != claims.epoch:
            log.info("license refused for video %s: signed out", video_id)
            return _error(403, "license refused: the account signed out after this license token was issued; "
                               "log in and call GET /videos/{id}/play again", "signed_out")
        try:
            keys = await run_in_threadpool(store.keys_by_kid, video_id, kids)
        except DrmKeyError as e:
            log.error("license for video %s: %s", video_id, e)
            return _error(500, "the title's key cannot be decrypted (see the API log)", "keystore")
        return JSONResponse(jwk_set(keys, typ), headers=NO_STORE)

    return router


__all__ = ["MAX_KIDS", "PATH", "LicenseRequestError", "create_router", "jwk_set", "parse_license_request"]
