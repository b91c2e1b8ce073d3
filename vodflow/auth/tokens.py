"""Access tokens and license tokens: HS256 JWTs (PyJWT) that can never stand in for each other.

=============  ===================  ====================  ===========================================
token          iss                  aud                   claims besides iss/aud/iat/exp/jti
=============  ===================  ====================  ===========================================
access         ``vodflow/auth``     ``vodflow/api``       sub (user id), role, country, ep, typ=access
license        ``vodflow/playback`` ``vodflow/license``   sub (user id), vid (video id), dev (device id),
                                                          ep, typ=license
=============  ===================  ====================  ===========================================

Each kind is signed with its own key, derived from the one secret (``VODFLOW_JWT_SECRET``, or a
random 256-bit key generated once into ``$VODFLOW_HOME/keys/jwt.secret`` with mode 0600) by
HMAC-SHA256 with a purpose label; with distinct issuer and audience on top, an access token fails
license verification on its signature and vice versa, even if a verifier forgot to check ``aud``.
Access tokens live ``VODFLOW_ACCESS_TOKEN_TTL`` seconds (900), license tokens 1 h by default and
are bound to user, title and device. A ``service`` access token (``sub`` = ``service:NAME``,
role ``service``) is for machine clients that post on behalf of many users (e.g. a gateway);
it acts for no account.

``ep`` is the account's token epoch when the token was issued (``users.token_epoch``); sign-out
(``POST /auth/logout``) increments it, and the verifiers that read the account (``Auth`` for access
tokens, the license endpoint for license tokens) refuse a token of an older epoch. A token without
the claim counts as epoch 0.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cachetools import LRUCache

from vodflow.settings import Settings

ALGORITHM = "HS256"
ACCESS_ISS, ACCESS_AUD = "vodflow/auth", "vodflow/api"
LICENSE_ISS, LICENSE_AUD = "vodflow/playback", "vodflow/license"
LICENSE_TTL = 3600
SERVICE_ROLE = "service"
SERVICE_PREFIX = "service:"
LEEWAY_S = 5
SECRET_FILE = "keys/jwt.secret"
_REQUIRED = ["iss", "aud", "sub", "iat", "exp", "jti"]


class TokenError(Exception):
    """A token that is refused. ``code``: short machine reason; ``reason``/``str()``: what and the fix."""

    def __init__(self, reason: str, code: str = "invalid"):
        super().__init__(reason)
        self.reason, self.code = reason, code


class AccessTokenError(TokenError):
    pass


class LicenseTokenError(TokenError):
    """Codes: ``expired``, ``other_title``, ``other_device``, ``bad_signature``, ``not_a_license_token``,
    ``malformed``."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    country: str | None
    exp: int
    iat: int = 0
    jti: str = ""
    epoch: int = 0

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE_ROLE


@dataclass(frozen=True)
class LicenseClaims:
    user_id: str
    video_id: str
    device_id: str
    exp: int
    iat: int = 0
    jti: str = ""
    epoch: int = 0


# ----------------------------------------------------------------------------- keys
def _secret_file(home: Path) -> bytes:
    from vodflow.secret_files import create_once

    path = home / SECRET_FILE
    create_once(path, (secrets.token_hex(32) + "\n").encode())
    text = path.read_text().strip()
    if not text:
        raise RuntimeError(f"{path} is empty: delete it (a new key is generated) or set VODFLOW_JWT_SECRET")
    return text.encode()


@lru_cache(maxsize=32)
def _keys(configured: str, home: str) -> dict[str, bytes]:
    secret = configured.encode() if configured else _secret_file(Path(home).expanduser().resolve())
    if len(secret) < 32:
        raise RuntimeError("VODFLOW_JWT_SECRET is shorter than 32 characters: use e.g. `openssl rand -hex 32`")
    return {p: hmac.new(secret, f"vodflow-jwt/{p}".encode(), hashlib.sha256).digest() for p in ("access", "license")}


def signing_key(s: Settings, purpose: str) -> bytes:
    """The HS256 key of ``purpose`` (``access`` or ``license``); read or generated once per process."""
    return _keys(s["VODFLOW_JWT_SECRET"], s["VODFLOW_HOME"])[purpose]  # (no path resolution per call)


# ----------------------------------------------------------------------------- access tokens
def _now() -> int:
    return int(time.time())


def issue_access_token(s: Settings, user: Any, *, ttl_s: int | None = None) -> str:
    """An access token for ``user`` (anything with ``id``, ``role`` and ``country``)."""
    now = _now()
    role = getattr(user.role, "value", user.role)
    claims = {"iss": ACCESS_ISS, "aud": ACCESS_AUD, "sub": str(user.id), "role": str(role),
              "country": user.country, "ep": int(getattr(user, "token_epoch", 0) or 0), "typ": "access", "iat": now,
              "exp": now + int(ttl_s if ttl_s is not None else s.access_token_ttl), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, signing_key(s, "access"), algorithm=ALGORITHM)


def issue_service_token(s: Settings, name: str, *, ttl_s: int = 86400) -> str:
    """An access token of a machine client ``name`` (role ``service``): acts for no account."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError("a service name is letters, digits and '-_.'")
    now = _now()
    claims = {"iss": ACCESS_ISS, "aud": ACCESS_AUD, "sub": SERVICE_PREFIX + name, "role": SERVICE_ROLE,
              "country": None, "typ": "access", "iat": now, "exp": now + int(ttl_s), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, signing_key(s, "access"), algorithm=ALGORITHM)


def _peek_audience(token: str) -> Any:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        return None


# Verified access tokens -> claims. A client sends the same token for up to its TTL, so the HMAC and
# claim checks (~200 us) run once per token; a hit only re-checks the expiry. Keyed by signing key
# and token, so a key change invalidates everything.
_verified: LRUCache = LRUCache(maxsize=50_000)
_verified_lock = threading.Lock()


def decode_access_token(s: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token; :class:`AccessTokenError` (code ``expired`` / ``invalid``) otherwise."""
    key = signing_key(s, "access")
    with _verified_lock:
        hit = _verified.get((key, token))
    if hit is not None:
        if hit.exp + LEEWAY_S <= time.time():
            raise AccessTokenError("the access token has expired", "expired")
        return hit
    claims = _decode_access_token(key, token)
    with _verified_lock:
        _verified[(key, token)] = claims
    return claims


def _decode_access_token(key: bytes, token: str) -> AccessClaims:
    try:
        c = jwt.decode(token, key, algorithms=[ALGORITHM], audience=ACCESS_AUD,
                       issuer=ACCESS_ISS, leeway=LEEWAY_S, options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise AccessTokenError("the access token has expired", "expired") from None
    except jwt.InvalidSignatureError:
        if _peek_audience(token) == LICENSE_AUD:
            raise AccessTokenError("a license token is not an access token", "not_an_access_token") from None
        raise AccessTokenError("the access token's signature is invalid (tampered, or signed with another key)",
                               "bad_signature") from None
    except jwt.PyJWTError as e:
        raise AccessTokenError(f"the access token is invalid ({e})", "invalid") from None
    if c.get("typ") != "access" or not isinstance(c.get("role"), str):
        raise AccessTokenError("the token is not an access token", "invalid")
    return AccessClaims(user_id=c["sub"], role=c["role"], country=c.get("country"), exp=int(c["exp"]),
                        iat=int(c["iat"]), jti=c["jti"], epoch=_epoch(c))


def _epoch(claims: dict) -> int:
    ep = claims.get("ep", 0)
    return ep if isinstance(ep, int) and not isinstance(ep, bool) else -1  # a bad ep never matches


# ----------------------------------------------------------------------------- license tokens
def issue_license_token(s: Settings, *, user_id: str, video_id: str, device_id: str, ttl_s: int = LICENSE_TTL,
                        epoch: int = 0) -> str:
    """A license token: lets ``device_id`` of ``user_id`` fetch the keys of ``video_id`` for ``ttl_s`` seconds
    (until the account signs out: ``epoch`` is its token epoch)."""
    now = _now()
    claims = {"iss": LICENSE_ISS, "aud": LICENSE_AUD, "sub": str(user_id), "vid": str(video_id),
              "dev": str(device_id), "ep": int(epoch), "typ": "license", "iat": now, "exp": now + int(ttl_s),
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, signing_key(s, "license"), algorithm=ALGORITHM)


def decode_license_token(s: Settings, token: str) -> LicenseClaims:
    """Signature, issuer, audience and expiry checked; title and device not (see :func:`verify_license_token`)."""
    try:
        c = jwt.decode(token, signing_key(s, "license"), algorithms=[ALGORITHM], audience=LICENSE_AUD,
                       issuer=LICENSE_ISS, leeway=LEEWAY_S, options={"require": _REQUIRED + ["vid", "dev"]})
    except jwt.ExpiredSignatureError:
        raise LicenseTokenError("the license token has expired: call GET /videos/{id}/play again for a new one",
                                "expired") from None
    except jwt.InvalidSignatureError:
        if _peek_audience(token) == ACCESS_AUD:
            raise LicenseTokenError("an access token is not a license token: use the license_token of "
                                    "GET /videos/{id}/play", "not_a_license_token") from None
        raise LicenseTokenError("the license token's signature is invalid (tampered, or signed with another key)",
                                "bad_signature") from None
    except jwt.PyJWTError as e:
        raise LicenseTokenError(f"the license token is invalid ({e}): use the license_token of "
                                "GET /videos/{id}/play", "malformed") from None
    if c.get("typ") != "license":
        raise LicenseTokenError("the token is not a license token", "not_a_license_token")
    return LicenseClaims(user_id=c["sub"], video_id=c["vid"], device_id=c["dev"], exp=int(c["exp"]),
                         iat=int(c["iat"]), jti=c["jti"], epoch=_epoch(c))


def verify_license_token(s: Settings, token: str, *, video_id: str, device_id: str) -> LicenseClaims:
    """The claims if ``token`` is a valid license token for this title and device, else :class:`LicenseTokenError`."""
    c = decode_license_token(s, token)
    if c.video_id != str(video_id):
        raise LicenseTokenError(f"the license token is for another title ({c.video_id}), not {video_id}",
                                "other_title")
    if not hmac.compare_digest(c.device_id.encode(), str(device_id).encode()):
        raise LicenseTokenError("the license token was issued to another device (X-Device-Id differs)",
                                "other_device")
    return c
