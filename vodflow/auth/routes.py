"""``POST /auth/login`` (email + password -> access token), ``POST /auth/logout`` and ``GET /me``.

Login takes JSON ``{"email", "password"}`` or an OAuth2 password form (``username`` = the email,
``password``), so the "Authorize" button of the API docs (``/docs``) works. It answers
``{"access_token", "token_type": "bearer", "expires_in"}``; a wrong email or password is one and
the same 401 (no account enumeration; an unknown email costs as much as a wrong password).
Failed logins are rate limited per client address and per email (vodflow/auth/ratelimit.py,
``VODFLOW_LOGIN_RATE_LIMIT``): past the budget the answer is 429 with ``Retry-After``, before the
password is checked.

``POST /auth/logout`` signs the account out everywhere: every access and license token issued to it
so far is refused from then on (204; the token epoch, see vodflow/auth/tokens.py).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vodflow.accounts import UserRecord
from vodflow.auth.deps import Auth, unauthorized
from vodflow.auth.ratelimit import LoginLimiter
from vodflow.auth.tokens import issue_access_token
from vodflow.settings import Settings, get_settings

MAX_LOGIN_BODY = 8192

LOGIN_OPENAPI = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "format": "email"}, "password": {"type": "string", "format": "password"}}}},
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["username", "password"], "properties": {
                "username": {"type": "string", "description": "the account's email"},
                "password": {"type": "string", "format": "password"},
                "grant_type": {"type": "string", "enum": ["password"]}}}}}},
    "responses": {"200": {"description": "`{access_token, token_type: bearer, expires_in}`"},
                  "400": {"description": "malformed body"},
                  "401": {"description": "wrong email or password"},
                  "429": {"description": "too many failed logins from this address or for this email; "
                                         "retry after Retry-After seconds"}},
}


def create_router(settings: Settings | None = None, auth: Auth | None = None) -> APIRouter:
    s = settings or get_settings()
    auth = auth or Auth(s)
    router = APIRouter(tags=["accounts"])
    limiter = LoginLimiter(s)

    async def credentials(request: Request) -> tuple[str, str] | JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_LOGIN_BODY:
            return JSONResponse({"detail": "the login body is too large"}, status_code=413)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            email, password = form.get("username") or form.get("email"), form.get("password")
        else:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return JSONResponse({"detail": 'send JSON {"email": ..., "password": ...} or an OAuth2 password '
                                               "form (username, password)"}, status_code=400)
            email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            return JSONResponse({"detail": "both email (form: username) and password are required"}, status_code=400)
        return email, password

    @router.post("/auth/login", summary="Log in: email and password -> access token", openapi_extra=LOGIN_OPENAPI)
    async def login(request: Request):
        creds = await credentials(request)
        if isinstance(creds, JSONResponse):
            return creds
        client = request.client.host if request.client else ""
        verdict = limiter.check(client, creds[0])
        if not verdict.allowed:
            return JSONResponse({"detail": f"too many failed logins: try again in {verdict.retry_after_s} s"},
                                status_code=429, headers={"Retry-After": str(verdict.retry_after_s)})
        user = await run_in_threadpool(auth.store.authenticate, *creds)
        if user is None:
            limiter.failed(client, creds[0])
            raise unauthorized("wrong email or password", error=None)
        token = issue_access_token(s, user)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": s.access_token_ttl},
                            headers={"Cache-Control": "no-store"})

    @router.post("/auth/logout", status_code=204, summary="Sign out everywhere: revoke this account's tokens",
                 responses={204: {"description": "signed out; every access and license token issued so far "
                                                  "is refused"}, 401: {"description": "no valid access token"}})
    async def logout(user: UserRecord = Depends(auth.current_user)) -> Response:
        await run_in_threadpool(auth.store.sign_out, user.id)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    @router.get("/me", summary="The logged-in account")
    def me(user: UserRecord = Depends(auth.current_user)):
        return user.to_dict()

    return router
