"""Signed edge URLs in CloudFront's format, and their verification at the edge.

Signing uses botocore's ``CloudFrontSigner`` with a *custom policy* whose Resource is the title's
prefix on the edge with a wildcard (``{edge}/videos/{id}/*``) and ``DateLessThan`` = expiry. One
signature therefore covers the manifests and every segment below the prefix; the player appends the
same ``Policy=...&Signature=...&Key-Pair-Id=...`` query to each request (relative segment URLs
included), or sends the equivalent ``CloudFront-Policy`` / ``CloudFront-Signature`` /
``CloudFront-Key-Pair-Id`` cookies.

``verify`` implements CloudFront's rules: URL-safe base64 (``-``→``+``, ``_``→``=``, ``~``→``/``)
policy and signature, RSA-SHA1 PKCS#1 v1.5 against the public key of the Key-Pair-Id, the Resource
pattern (``*`` any run of characters, ``?`` one character) matched against the requested URL, and the
``DateLessThan`` / ``DateGreaterThan`` / ``IpAddress`` conditions; canned policies (``Expires=``) too.

The URL matched is ``VODFLOW_EDGE_URL`` + the request path (+ the query without the signing
parameters): scheme and host are the edge's configured public name, not the Host header a client
sent, so a policy signed for another host never matches and Host spoofing changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Mapping
from urllib.parse import quote, unquote

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from vodflow.cdn.keys import CdnKeys, KeyConfigError, load_keys
from vodflow.settings import Settings

SIGNING_PARAMS = ("Policy", "Signature", "Key-Pair-Id", "Expires")
COOKIE_POLICY, COOKIE_SIGNATURE, COOKIE_KEY_PAIR = "CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"

# reasons (SignatureError.reason)
MISSING = "missing"
MALFORMED = "malformed"
BAD_SIGNATURE = "bad signature"
EXPIRED = "expired"
NOT_YET_VALID = "not yet valid"
RESOURCE_MISMATCH = "resource mismatch"
UNKNOWN_KEY_PAIR = "unknown key pair"
IP_MISMATCH = "ip mismatch"


class SignatureError(Exception):
    """A request's signature does not grant access; ``reason`` is one of the module's reason constants."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SignedQuery:
    query: str                 # "Policy=...&Signature=...&Key-Pair-Id=..."
    cookies: dict[str, str]    # the same grant as CloudFront signed cookies
    resource: str              # the policy's Resource, e.g. http://127.0.0.1:8088/videos/<id>/*
    expires_at: int            # epoch seconds (DateLessThan)
    policy: str                # the policy JSON that was signed


# --------------------------------------------------------------------------- helpers
def edge_url(s: Settings, path: str) -> str:
    """Absolute edge URL of ``path`` (``/videos/<id>/...``)."""
    return s["VODFLOW_EDGE_URL"].rstrip("/") + "/" + path.lstrip("/")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")


def _b64decode(text: str) -> bytes:
    std = text.replace("-", "+").replace("_", "=").replace("~", "/")
    try:
        return base64.b64decode(std, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(MALFORMED, "not CloudFront URL-safe base64") from None


def _epoch(t: datetime | int | float) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return int(t.timestamp())
    return int(t)


def _settings_key(s: Settings) -> tuple[str, str, str, str]:
    return (s["VODFLOW_CDN_KEY_PAIR_ID"], s["VODFLOW_CDN_PRIVATE_KEY_FILE"], s["VODFLOW_CDN_PUBLIC_KEY_FILE"],
            s.values["VODFLOW_HOME"])


_KEYS: dict[tuple[str, str, str, str], CdnKeys] = {}
_VERIFIERS: dict[tuple[str, str, str, str], "Verifier"] = {}


def keys_for(s: Settings) -> CdnKeys:
    """The key pair for ``s`` (loaded, or generated, once per process and key configuration)."""
    k = _settings_key(s)
    if k not in _KEYS:
        _KEYS[k] = load_keys(s)
    return _KEYS[k]


# --------------------------------------------------------------------------- signing
def _signer(s: Settings) -> CloudFrontSigner:
    keys = keys_for(s)
    if keys.private_key is None:
        raise KeyConfigError("no URL-signing private key here (only VODFLOW_CDN_PUBLIC_KEY_FILE is set); set "
                             "VODFLOW_CDN_PRIVATE_KEY_FILE where /play runs")
    priv = keys.private_key
    return CloudFrontSigner(keys.key_pair_id, lambda msg: priv.sign(msg, padding.PKCS1v15(), hashes.SHA1()))


def sign_prefix(s: Settings, prefix_url_path: str, expires_at: datetime | int | float,
                *, not_before: datetime | int | float | None = None) -> SignedQuery:
    """Sign everything under ``prefix_url_path`` (e.g. ``/videos/<id>/``) on the edge until ``expires_at``."""
    prefix = "/" + prefix_url_path.strip("/") + "/"
    resource = edge_url(s, prefix) + "*"
    exp = _epoch(expires_at)
    signer = _signer(s)
    policy = signer.build_policy(
        resource, datetime.fromtimestamp(exp, timezone.utc),
        date_greater_than=None if not_before is None else datetime.fromtimestamp(_epoch(not_before), timezone.utc))
    signed = signer.generate_presigned_url(resource, policy=policy)
    query = signed.split("?", 1)[1]
    params = dict(p.split("=", 1) for p in query.split("&"))
    cookies = {COOKIE_POLICY: params["Policy"], COOKIE_SIGNATURE: params["Signature"],
               COOKIE_KEY_PAIR: params["Key-Pair-Id"]}
    return SignedQuery(query=query, cookies=cookies, resource=resource, expires_at=exp, policy=policy)


def sign_url_canned(s: Settings, url: str, expires_at: datetime | int | float) -> str:
    """A canned-policy signed URL for exactly ``url`` (CloudFront's ``Expires=`` form)."""
    return _signer(s).generate_presigned_url(
        url, date_less_than=datetime.fromtimestamp(_epoch(expires_at), timezone.utc))


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True)
class _Grant:
    resource: str
    pattern: re.Pattern
    date_less_than: int
    date_greater_than: int | None
    networks: tuple | None


def _resource_pattern(resource: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource),
                      re.DOTALL)


def _parse_policy(policy: bytes) -> _Grant:
    try:
        doc = json.loads(policy)
        (stmt,) = doc["Statement"]
        resource = stmt.get("Resource", "*")
        cond = stmt["Condition"]
        dlt = int(cond["DateLessThan"]["AWS:EpochTime"])
        dgt = cond.get("DateGreaterThan", {}).get("AWS:EpochTime")
        ip = cond.get("IpAddress", {}).get("AWS:SourceIp")
        nets = None
        if ip:
            nets = tuple(ipaddress.ip_network(n, strict=False) for n in ([ip] if isinstance(ip, str) else ip))
        if not isinstance(resource, str):
            raise TypeError("Resource is not a string")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SignatureError(MALFORMED, f"policy is not a CloudFront policy ({type(e).__name__}: {e})") from None
    return _Grant(resource, _resource_pattern(resource), dlt, None if dgt is None else int(dgt), nets)


class Verifier:
    """Verifies signed requests for one key configuration; caches verified (policy, signature) pairs.

    The RSA check (~50 µs) runs once per distinct (key pair, policy, signature); the cache holds the
    parsed grant, and expiry/resource/IP are checked on every request, so caching never extends access.
    """

    def __init__(self, keys: dict[str, object], cache_size: int = 8192):
        self._keys = keys
        self._grant = lru_cache(maxsize=cache_size)(self._verify_signature)

    def _verify_signature(self, key_pair_id: str, policy_b64: str, signature_b64: str) -> _Grant:
        key = self._keys.get(key_pair_id)
        if key is None:
            raise SignatureError(UNKNOWN_KEY_PAIR, f"Key-Pair-Id {key_pair_id!r} is not trusted by this edge")
        policy = _b64decode(policy_b64)
        sig = _b64decode(signature_b64)
        try:
            key.verify(sig, policy, padding.PKCS1v15(), hashes.SHA1())  # type: ignore[attr-defined]
        except InvalidSignature:
            raise SignatureError(BAD_SIGNATURE, "the signature does not match the policy") from None
        return _parse_policy(policy)

    def check(self, url: str, params: Mapping[str, str], now: float, client_ip: str | None = None) -> _Grant:
        key_pair_id = params.get("Key-Pair-Id")
        signature = params.get("Signature")
        policy_b64 = params.get("Policy")
        expires = params.get("Expires")
        if not (key_pair_id and signature and (policy_b64 or expires)):
            raise SignatureError(MISSING, "no Policy/Expires, Signature and Key-Pair-Id in the query or cookies")
        if policy_b64 is None:  # canned policy: the signed statement is rebuilt from the URL and Expires
            try:
                exp = int(expires)  # type: ignore[arg-type]
            except ValueError:
                raise SignatureError(MALFORMED, "Expires is not an epoch time") from None
            canned = json.dumps({"Statement": [OrderedDict([("Resource", url), ("Condition", {
                "DateLessThan": {"AWS:EpochTime": exp}})])]}, separators=(",", ":"))
            policy_b64 = _b64encode(canned.encode())
        grant = self._grant(key_pair_id, policy_b64, signature)
        if now >= grant.date_less_than:
            raise SignatureError(EXPIRED, f"expired at {grant.date_less_than} (now {int(now)})")
        if grant.date_greater_than is not None and now <= grant.date_greater_than:
            raise SignatureError(NOT_YET_VALID, f"valid after {grant.date_greater_than}")
        if not grant.pattern.fullmatch(url):
            raise SignatureError(RESOURCE_MISMATCH, f"{url} is not covered by {grant.resource}")
        if grant.networks is not None:
            try:
                ip = ipaddress.ip_address(client_ip or "")
            except ValueError:
                raise SignatureError(IP_MISMATCH, "the policy restricts the source IP and none is known") from None
            if not any(ip in n for n in grant.networks):
                raise SignatureError(IP_MISMATCH, f"{ip} is not allowed by the policy")
        return grant


def verifier_for(s: Settings) -> Verifier:
    k = _settings_key(s)
    if k not in _VERIFIERS:
        keys = keys_for(s)
        _VERIFIERS[k] = Verifier({keys.key_pair_id: keys.public_key})
    return _VERIFIERS[k]


def canonical_path(path: str) -> bool:
    """Whether ``path`` (the raw request path, no query) names one object without tricks.

    nginx serves the *normalised* path (percent-decoded, dot segments resolved), while a policy is
    matched against the path as sent: ``/videos/A/../B/seg.m4s`` would match ``/videos/A/*`` and
    serve title B. So a path with a dot segment, an empty segment, a backslash or an encoded ``/``,
    ``\\`` or ``.`` is refused before any policy is looked at (CloudFront resolves such paths itself;
    no player ever sends them).
    """
    lowered = path.lower()
    if any(bad in lowered for bad in ("%2f", "%5c", "%2e", "\\", "%00")) or "\x00" in path:
        return False
    segments = unquote(path).split("/")
    return segments[0] == "" and all(seg not in ("", ".", "..") for seg in segments[1:])


def split_signing_params(url_path: str, query: str | Mapping[str, str] | None = None
                         ) -> tuple[str, dict[str, str]]:
    """(path + query without the signing parameters, signing parameters) of a request.

    ``query`` is a raw query string, a mapping of query parameters, or the request's cookies (recognised
    by the ``CloudFront-*`` names). The remaining query is kept byte for byte, as CloudFront matches it.
    """
    path, _, q = url_path.partition("?")
    raw = [p for p in q.split("&") if p]
    cookies: Mapping[str, str] = {}
    if isinstance(query, str):
        raw += [p for p in query.lstrip("?").split("&") if p]
    elif query is not None:
        if any(k in query for k in (COOKIE_POLICY, COOKIE_SIGNATURE, COOKIE_KEY_PAIR)):
            cookies = query
        else:
            raw += [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items()]
    sig: dict[str, str] = {}
    rest: list[str] = []
    for part in raw:
        k, _, v = part.partition("=")
        if k in SIGNING_PARAMS:
            sig[k] = unquote(v)
        else:
            rest.append(part)
    if not sig:  # CloudFront signed cookies apply when the URL carries no signature
        for cookie, param in ((COOKIE_POLICY, "Policy"), (COOKIE_SIGNATURE, "Signature"),
                              (COOKIE_KEY_PAIR, "Key-Pair-Id")):
            if cookies.get(cookie):
                sig[param] = cookies[cookie]
    return path + ("?" + "&".join(rest) if rest else ""), sig


def verify(s: Settings, url_path: str, query_or_cookies: str | Mapping[str, str] | None = None,
           now: float | None = None, *, client_ip: str | None = None) -> None:
    """Raise ``SignatureError(reason)`` unless the request for ``url_path`` carries a valid grant.

    ``url_path`` is the request URI as the edge received it (``/videos/<id>/seg.m4s``, optionally with its
    query); ``query_or_cookies`` is the query string, or a mapping of query parameters or of the
    ``CloudFront-*`` cookies. Query parameters take precedence over cookies, as in CloudFront.
    """
    url, params = split_signing_params(url_path, query_or_cookies)
    verifier_for(s).check(edge_url(s, url), params, time.time() if now is None else now, client_ip)
