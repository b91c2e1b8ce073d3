"""Per-title CENC content keys, stored only as AES-GCM ciphertext under a master key.

* ``KeyStore(s).get_or_create(video_id)`` returns the title's :class:`RawKey` list (today one
  key, label ``""`` = every track), creating a random 16-byte key id and key (``secrets``) the
  first time. It is idempotent: a DAG rerun reuses the title's key, so a re-published set stays
  decryptable with licenses already issued; two concurrent creators are serialized by the
  primary key (video_id, label) -- the loser re-reads the winner's row.
* The key is stored in ``content_keys.key_ciphertext`` as ``v1.<base64url(nonce || AES-GCM(key))>``
  with a random 96-bit nonce and AAD ``"{video_id}:{kid}"``, so a ciphertext copied onto another
  title or key id does not decrypt. ``master_key_id`` (a short hash of the master key) tells a
  wrong master key apart from a tampered row.
* The master key: setting ``VODFLOW_DRM_MASTER_KEY`` (32 bytes as 64 hex digits or base64);
  empty -> generated once into ``$VODFLOW_HOME/keys/drm-master.key`` (mode 0600) and reused.
* ``keys_by_kid`` / ``owners`` serve the license endpoint; decrypted keys are cached in-process
  for :data:`CACHE_TTL_S` seconds so a burst of license requests costs one DB read per title.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError

from vodflow.catalog import db
from vodflow.catalog.models import ContentKey
from vodflow.media.package import RawKey
from vodflow.settings import Settings, get_settings

MASTER_KEY_SETTING = "VODFLOW_DRM_MASTER_KEY"
MASTER_KEY_FILE = Path("keys") / "drm-master.key"      # under $VODFLOW_HOME
DEFAULT_LABEL = ""          # one key for every track (Shaka Packager's empty label)
CIPHERTEXT_VERSION = "v1"
CACHE_TTL_S = 60.0
CACHE_SIZE = 50_000
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


class DrmKeyError(RuntimeError):
    """A content key cannot be produced or read; the message names the fix."""


class MasterKeyError(DrmKeyError):
    """The master key is malformed, or is not the one the stored keys were encrypted under."""


# ----------------------------------------------------------------------------- master key
def _parse_master_key(value: str) -> bytes:
    v = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", v):
        return bytes.fromhex(v)
    try:
        raw = base64.b64decode(v + "=" * (-len(v) % 4), altchars=b"-_" if ("-" in v or "_" in v) else None,
                               validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(
            f"{MASTER_KEY_SETTING} must be 32 bytes written as 64 hex digits or base64 (got {len(v)} characters "
            "that are neither); make one with `python -c 'import secrets; print(secrets.token_hex(32))'`, "
            "or leave it empty to use the key generated into $VODFLOW_HOME/keys/drm-master.key")
    return raw


def _load_or_create_key_file(path: Path) -> bytes:
    """Read the generated master key, or create it (atomically, first writer wins: vodflow.secret_files)."""
    from vodflow.secret_files import create_once

    create_once(path, (secrets.token_bytes(32).hex() + "\n").encode())
    text = path.read_text().strip()
    try:
        return _parse_master_key(text)
    except MasterKeyError as e:
        raise MasterKeyError(f"{path} does not hold a valid master key ({e}); restore it from your backup "
                             f"or set {MASTER_KEY_SETTING}") from None


def master_key_id(key: bytes) -> str:
    """A short, non-reversible fingerprint of a master key (stored beside each ciphertext)."""
    return hashlib.sha256(b"vodflow-drm-master-key:" + key).hexdigest()[:16]


def load_master_key(s: Settings) -> tuple[bytes, str, str]:
    """(key, key id, where it came from) for settings ``s``."""
    value = s[MASTER_KEY_SETTING]
    if value:
        key, source = _parse_master_key(value), MASTER_KEY_SETTING
    else:
        path = s.home / MASTER_KEY_FILE
        key, source = _load_or_create_key_file(path), f"{path} (generated because {MASTER_KEY_SETTING} is empty)"
    return key, master_key_id(key), source


# ----------------------------------------------------------------------------- helpers
def kid_to_b64url(kid_hex: str) -> str:
    """A 16-byte key id (hex) as unpadded base64url, the form W3C ClearKey uses."""
    return base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()


def b64url_to_hex(value: str) -> str:
    """Unpadded (or padded) base64url -> hex; ValueError unless it decodes to 16 bytes."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{21,22}={0,2}", value):
        raise ValueError(f"not a base64url 16-byte key id: {value!r}")
    raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    if len(raw) != 16:
        raise ValueError(f"key id {value!r} decodes to {len(raw)} bytes, not 16")
    return raw.hex()


def _aad(video_id: str, kid: str) -> bytes:
    return f"{video_id}:{kid.lower()}".encode()


class KeyStore:
    """Content keys of the catalog at ``s.catalog_db_url`` (schema upgraded on first use)."""

    def __init__(self, s: Settings | None = None, *, cache_ttl_s: float = CACHE_TTL_S):
        self.s = s or get_settings()
        self.url = db.normalize_url(self.s.catalog_db_url)
        self._master: tuple[bytes, str, str] | None = None
        self._lock = threading.Lock()
        # kid -> (video_id, key hex); entries expire so a deleted title stops being licensed
        self._cache: TTLCache = TTLCache(maxsize=CACHE_SIZE, ttl=cache_ttl_s)
        self._cache_lock = threading.Lock()    # TTLCache is not thread-safe (API threadpool)

    def _cached(self, kid: str) -> tuple[str, str] | None:
        with self._cache_lock:
            return self._cache.get(kid)

    def _remember(self, kid: str, video_id: str, key: str) -> None:
        with self._cache_lock:
            self._cache[kid] = (video_id, key)

    # -- master key --------------------------------------------------------------------
    def _master_key(self) -> tuple[bytes, str, str]:
        if self._master is None:
            with self._lock:
                if self._master is None:
                    self._master = load_master_key(self.s)
        return self._master

    @property
    def master_key_id(self) -> str:
        return self._master_key()[1]

    def _encrypt(self, video_id: str, kid: str, key: bytes) -> str:
        mk, _, _ = self._master_key()
        nonce = secrets.token_bytes(12)
        ct = AESGCM(mk).encrypt(nonce, key, _aad(video_id, kid))
        return f"{CIPHERTEXT_VERSION}.{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def _decrypt(self, row: ContentKey) -> str:
        mk, mk_id, source = self._master_key()
        if row.master_key_id != mk_id:
            raise MasterKeyError(
                f"the content key of video {row.video_id} (kid {row.kid}) was encrypted under master key "
                f"{row.master_key_id}, but the master key in use ({source}) is {mk_id}: set "
                f"{MASTER_KEY_SETTING} to the master key the title was packaged with")
        version, _, body = row.key_ciphertext.partition(".")
        if version != CIPHERTEXT_VERSION or not body:
            raise DrmKeyError(f"content key of video {row.video_id}: unknown ciphertext format {version!r}")
        blob = base64.urlsafe_b64decode(body)
        try:
            key = AESGCM(mk).decrypt(blob[:12], blob[12:], _aad(row.video_id, row.kid))
        except InvalidTag:
            raise DrmKeyError(
                f"the content key of video {row.video_id} (kid {row.kid}) does not decrypt under master key "
                f"{mk_id} although the key ids match: the row was altered or copied from another title; "
                "re-ingest the title to give it a new key") from None
        return key.hex()

    # -- API ---------------------------------------------------------------------------
    def _session(self, write: bool):
        db.ensure_schema(self.url)
        return db.transaction(self.url, write=write)

    def _rows(self, session, video_id: str) -> list[ContentKey]:
        return list(session.execute(sa.select(ContentKey).where(ContentKey.video_id == video_id)
                                    .order_by(ContentKey.label)).scalars())

    def _to_raw(self, row: ContentKey) -> RawKey:
        key = self._decrypt(row)
        self._remember(row.kid, row.video_id, key)
        return RawKey(key_id=row.kid, key=key, label=row.label)

    def get(self, video_id: str) -> list[RawKey]:
        """The title's keys ([] if it has none)."""
        with self._session(write=False) as session:
            rows = self._rows(session, video_id)
        return [self._to_raw(r) for r in rows]

    def get_or_create(self, video_id: str) -> list[RawKey]:
        """The title's keys, made (random kid and key) and stored encrypted on first call."""
        existing = self.get(video_id)
        if existing:
            return existing
        self._master_key()  # fail on a bad master key before touching the DB
        kid, key = secrets.token_bytes(16).hex(), secrets.token_bytes(16)
        try:
            with self._session(write=True) as session:
                rows = self._rows(session, video_id)   # under the write lock (SQLite: BEGIN IMMEDIATE)
                if not rows:
                    session.add(ContentKey(video_id=video_id, label=DEFAULT_LABEL, kid=kid,
                                           key_ciphertext=self._encrypt(video_id, kid, key),
                                           master_key_id=self.master_key_id))
        except IntegrityError as e:
            # a concurrent creator won the primary key (or the FK says the title does not exist)
            got = self.get(video_id)
            if got:
                return got
            raise DrmKeyError(f"cannot store a content key for video {video_id}: {e.orig}; "
                              "is the title in the catalog?") from e
        return self.get(video_id)

    def kids(self, video_id: str) -> list[str]:
        """Key ids (hex) of a title, without decrypting anything (for /play's drm block)."""
        with self._session(write=False) as session:
            return list(session.execute(sa.select(ContentKey.kid).where(ContentKey.video_id == video_id)
                                        .order_by(ContentKey.label)).scalars())

    def owners(self, kids: Iterable[str]) -> dict[str, str]:
        """``{kid hex: video_id}`` for the kids that belong to a title (unknown kids are left out)."""
        want = {k.lower() for k in kids if _HEX32.match(k)}
        out = {}
        for k in want:
            hit = self._cached(k)
            if hit:
                out[k] = hit[0]
        missing = want - out.keys()
        if missing:
            with self._session(write=False) as session:
                for kid, vid in session.execute(sa.select(ContentKey.kid, ContentKey.video_id)
                                                .where(ContentKey.kid.in_(sorted(missing)))):
                    out[kid] = vid
        return out

    def keys_by_kid(self, video_id: str, kids: Iterable[str]) -> dict[str, str]:
        """``{kid hex: key hex}`` of the requested kids that belong to ``video_id`` (others are left out)."""
        want = {k.lower() for k in kids if _HEX32.match(k)}
        out: dict[str, str] = {}
        for k in want:
            hit = self._cached(k)
            if hit and hit[0] == video_id:
                out[k] = hit[1]
        missing = want - out.keys()
        if missing:
            with self._session(write=False) as session:
                rows = list(session.execute(sa.select(ContentKey).where(ContentKey.video_id == video_id,
                                                                        ContentKey.kid.in_(sorted(missing))))
                            .scalars())
            for r in rows:
                out[r.kid] = self._to_raw(r).key
        return out

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()


__all__ = ["CACHE_TTL_S", "DEFAULT_LABEL", "DrmKeyError", "KeyStore", "MASTER_KEY_SETTING", "MasterKeyError",
           "b64url_to_hex", "kid_to_b64url", "load_master_key", "master_key_id"]
