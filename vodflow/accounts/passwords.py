"""Password hashing with scrypt (``hashlib.scrypt``, RFC 7914) and a per-user random salt.

Stored form (fits ``users.password_hash``, 255 chars)::

    scrypt$n=16384,r=8,p=1$<salt, base64>$<64-byte hash, base64>

The parameters travel with the hash, so they can be raised later: :func:`needs_rehash` says when
a stored hash is weaker than the current :data:`PARAMS`. Verification is constant-time
(``hmac.compare_digest``). n=2**14, r=8 uses 16 MiB and ~50 ms per hash: fine for a login,
expensive for an offline guesser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PARAMS = {"n": 2 ** 14, "r": 8, "p": 1}
SALT_BYTES = 16
DKLEN = 64
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class PasswordPolicyError(ValueError):
    """A password that may not be set; the message says what is required."""


def check_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordPolicyError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordPolicyError(f"the password must have at most {MAX_PASSWORD} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN,
                          maxmem=256 * 1024 * 1024)


def hash_password(password: str) -> str:
    """A new salted hash of ``password`` (policy checked)."""
    check_policy(password)
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password, salt, **PARAMS)
    params = ",".join(f"{k}={v}" for k, v in PARAMS.items())
    return f"scrypt${params}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _parse(stored: str) -> tuple[dict[str, int], bytes, bytes]:
    scheme, params, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    p = {k: int(v) for k, v in (kv.split("=") for kv in params.split(","))}
    return p, base64.b64decode(salt), base64.b64decode(digest)


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches the stored hash (False for a malformed hash, never an exception)."""
    try:
        p, salt, digest = _parse(stored)
        got = _scrypt(password if isinstance(password, str) else "", salt, p["n"], p["r"], p["p"])
    except (ValueError, KeyError, TypeError):
        return False
    return hmac.compare_digest(got, digest)


def needs_rehash(stored: str) -> bool:
    try:
        p, _, _ = _parse(stored)
    except (ValueError, KeyError):
        return True
    return any(p.get(k, 0) < v for k, v in PARAMS.items())


# A hash of nothing anyone knows: login verifies against it when the email is unknown, so an
# unknown account takes as long as a wrong password (no user enumeration by timing).
DUMMY_HASH = hash_password(base64.b64encode(os.urandom(24)).decode())
