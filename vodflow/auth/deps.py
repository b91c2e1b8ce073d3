"""FastAPI dependencies that authenticate a request from its ``Authorization: Bearer`` access token.

* :func:`current_user` -> :class:`~vodflow.accounts.UserRecord` of the token's subject, read fresh
  from the database (one primary-key lookup), so a canceled subscription, a changed country or a
  removed admin role counts at once, not when the token expires. 401 with ``WWW-Authenticate``
  (RFC 6750) when the token is missing, expired, tampered or its account is gone.
* :func:`require_admin` -> the user if its role is ``admin``, else 403.
* A token issued before the account signed out (its ``ep`` claim older than ``users.token_epoch``)
  is refused with 401 like an expired one.

The dependencies are ``async``: the token is checked on the event loop; the account lookup runs in
the thread pool, except on a local SQLite catalog (WAL: a reader never waits for a writer, the
lookup is ~40 us), where a thread hop would cost more than the query.
* :class:`Auth` holds the same dependencies bound to explicit settings, for routers built with
  ``create_router(settings)``: ``auth.current_user``, ``auth.require_admin``, ``auth.principal``
  (a user *or* a ``service`` token), ``auth.optional_principal`` (None without a token).

The module-level dependencies take their settings from ``request.app.state.settings`` (set by
``vodflow.api.app.create_app``), else the process settings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from vodflow.accounts import UserRecord, UserStore
from vodflow.auth.tokens import AccessClaims, AccessTokenError, decode_access_token
from vodflow.settings import Settings, get_settings

LOGIN_HINT = "log in at POST /auth/login and send its access_token as 'Authorization: Bearer <access_token>'"

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/login", auto_error=False, scheme_name="access token",
    description="An access token from POST /auth/login (the docs' Authorize button logs in with email "
                "as username).")


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None (as :data:`bearer_scheme`)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def unauthorized(detail: str, error: str | None = "invalid_token") -> HTTPException:
    """A 401 whose ``WWW-Authenticate`` header says what was wrong (RFC 6750)."""
    challenge = 'Bearer realm="vodflow"'
    if error:
        safe = detail.replace('"', "'")
        challenge += f', error="{error}", error_description="{safe}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (``user`` set) or a machine client with a service token (``user`` None)."""

    claims: AccessClaims
    user: UserRecord | None

    @property
    def id(self) -> str:
        return self.user.id if self.user is not None else self.claims.user_id

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin

    @property
    def is_service(self) -> bool:
        return self.user is None and self.claims.is_service

    def may_act_for(self, user_id: str) -> bool:
        """Admins and service clients act for anyone; a user only for itself."""
        return self.is_admin or self.is_service or (self.user is not None and self.user.id == user_id)


class Auth:
    """Authentication dependencies bound to one settings object (one user store, one signing key)."""

    def __init__(self, settings: Settings):
        self.s = settings
        self._store: UserStore | None = None
        self._lock = threading.Lock()

        async def principal(token: str | None = Depends(bearer_scheme)) -> Principal:
            return await self.authenticate_async(token)

        async def optional_principal(token: str | None = Depends(bearer_scheme)) -> Principal | None:
            return await self.authenticate_async(token) if token else None

        async def current_user(token: str | None = Depends(bearer_scheme)) -> UserRecord:
            return self.user_of(await self.authenticate_async(token))

        async def require_admin(user: UserRecord = Depends(current_user)) -> UserRecord:
            if not user.is_admin:
                raise HTTPException(403, f"this needs the admin role; {user.email} is a {user.role.value}. "
                                         "Log in as an admin (`vodflow users set EMAIL --role admin` grants it)")
            return user

        self.principal, self.optional_principal = principal, optional_principal
        self.current_user, self.require_admin = current_user, require_admin

    @property
    def store(self) -> UserStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from vodflow.accounts import get_user_store

                    self._store = get_user_store(self.s.catalog_db_url)
        return self._store

    def claims(self, token: str | None) -> AccessClaims:
        if not token:
            raise unauthorized(f"missing access token: {LOGIN_HINT}", error=None)
        try:
            return decode_access_token(self.s, token)
        except AccessTokenError as e:
            if e.code == "expired":
                raise unauthorized(f"{e}: log in again at POST /auth/login") from None
            raise unauthorized(f"{e}: {LOGIN_HINT}") from None

    def authenticate(self, token: str | None) -> Principal:
        """The caller of ``token``; raises the 401 to answer (blocking: the account is read here)."""
        c = self.claims(token)
        if c.is_service:
            return Principal(c, None)
        return self._principal(c, self.store.get(c.user_id))

    async def user_of_request(self, request: Request) -> UserRecord:
        """:attr:`current_user` without FastAPI's dependency machinery, for the hottest handlers (``/play``):
        the same token checks and answers, the bearer token read as ``OAuth2PasswordBearer`` reads it.
        Solving a ``Depends``/``Header`` chain was ~20 % of ``/play``'s CPU per request."""
        return self.user_of(await self.authenticate_async(bearer_token(request)))

    async def authenticate_async(self, token: str | None) -> Principal:
        """:meth:`authenticate` without blocking the event loop (see the module docstring)."""
        c = self.claims(token)
        if c.is_service:
            return Principal(c, None)
        store = self.store
        user = store.get(c.user_id) if store.local else await run_in_threadpool(store.get, c.user_id)
        return self._principal(c, user)

    @staticmethod
    def _principal(c: AccessClaims, user: UserRecord | None) -> Principal:
        if user is None:
            raise unauthorized(f"the account of this token no longer exists: {LOGIN_HINT}")
        if c.epoch != user.token_epoch:
            raise unauthorized(f"this access token was signed out (POST /auth/logout): {LOGIN_HINT}")
        return Principal(c, user)

    @staticmethod
    def user_of(p: Principal) -> UserRecord:
        if p.user is None:
            raise HTTPException(403, f"a service token ({p.claims.user_id}) acts for no account; "
                                     "this endpoint needs a user's token from POST /auth/login")
        return p.user


_app_lock = threading.Lock()


def auth_for(request: Request) -> Auth:
    """The app's :class:`Auth` (``app.state.auth``), created from ``app.state.settings`` on first use."""
    st = request.app.state
    a = getattr(st, "auth", None)
    if a is None:
        with _app_lock:
            a = getattr(st, "auth", None)
            if a is None:
                a = st.auth = Auth(getattr(st, "settings", None) or get_settings())
    return a


async def current_user(request: Request, token: str | None = Depends(bearer_scheme)) -> UserRecord:
    """The authenticated user (401 otherwise; 403 for a service token)."""
    a = auth_for(request)
    return a.user_of(await a.authenticate_async(token))


async def require_admin(request: Request, user: UserRecord = Depends(current_user)) -> UserRecord:
    """The authenticated user if it is an admin (403 otherwise)."""
    return await auth_for(request).require_admin(user)


async def current_principal(request: Request, token: str | None = Depends(bearer_scheme)) -> Principal:
    """The authenticated user or service client (401 otherwise)."""
    return await auth_for(request).authenticate_async(token)
