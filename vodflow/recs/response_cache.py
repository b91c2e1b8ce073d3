"""Response cache of the recommendations API: in-process TTL+LRU by default, Redis when configured.

Keys are tuples that start with the serving bundle's key (champion version), so a new champion
never serves an old answer; :meth:`clear` also drops what is cached, everywhere:

* :class:`LocalCache` — ``cachetools.TTLCache`` behind a lock, one per API process.
* :class:`RedisCache` — ``VODFLOW_REDIS_URL`` set: one cache shared by every API replica, values
  as JSON with a TTL (``SET ... EX``). ``clear`` bumps a generation counter that is part of every
  key, so all replicas stop seeing the old entries at once (they expire on their own; nothing has
  to scan the keyspace). When Redis does not answer, the API still answers: the cache counts as a
  miss, the response is computed, and the error is logged at most once a minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Protocol

from vodflow.settings import Settings

log = logging.getLogger("vodflow.recs.cache")


class ResponseCache(Protocol):
    kind: str

    def get(self, key: tuple) -> Any | None: ...

    def set(self, key: tuple, value: Any) -> None: ...

    def clear(self) -> None: ...


class LocalCache:
    """Per-process TTL + LRU cache."""

    kind = "local"

    def __init__(self, ttl: float, size: int):
        from cachetools import TTLCache

        self._c: TTLCache = TTLCache(maxsize=size, ttl=ttl)
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            return self._c.get(key)

    def set(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._c[key] = value

    def clear(self) -> None:
        with self._lock:
            self._c.clear()

    def __len__(self) -> int:
        return len(self._c)


class RedisCache:
    """Shared cache in Redis; a Redis outage degrades to computing every response."""

    kind = "redis"

    def __init__(self, url: str, ttl: float, namespace: str = "vodflow:recs", timeout: float = 0.2):
        import redis

        self.url, self.ttl, self.ns = url, max(1, int(round(ttl))), namespace
        self.r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._gen: tuple[float, int] | None = None    # (read at, generation): re-read at most every second
        self._warned_at = 0.0
        self.errors = 0

    def _warn(self, what: str, e: Exception) -> None:
        self.errors += 1
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning("recs cache: Redis at %s failed to %s (%s: %s); answering without the cache. "
                        "Check the server or unset VODFLOW_REDIS_URL to use the in-process cache.",
                        self.url, what, type(e).__name__, e)

    def _generation(self) -> int:
        now = time.monotonic()
        if self._gen is not None and now - self._gen[0] < 1.0:
            return self._gen[1]
        g = int(self.r.get(f"{self.ns}:gen") or 0)
        self._gen = (now, g)
        return g

    def _key(self, key: tuple) -> str:
        digest = hashlib.sha256(json.dumps(key, default=str, separators=(",", ":")).encode()).hexdigest()[:32]
        return f"{self.ns}:{self._generation()}:{digest}"

    def get(self, key: tuple) -> Any | None:
        try:
            raw = self.r.get(self._key(key))
        except Exception as e:  # noqa: BLE001 - redis.ConnectionError, TimeoutError, ...
            self._warn("read", e)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: tuple, value: Any) -> None:
        try:
            self.r.set(self._key(key), json.dumps(value, separators=(",", ":"), default=_plain), ex=self.ttl)
        except Exception as e:  # noqa: BLE001
            self._warn("write", e)

    def clear(self) -> None:
        try:
            self.r.incr(f"{self.ns}:gen")
            self._gen = None
        except Exception as e:  # noqa: BLE001
            self._warn("invalidate", e)


def _plain(o: Any) -> Any:
    """numpy scalars and arrays in a response body, as JSON numbers and lists."""
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def make_cache(s: Settings, ttl: float, size: int) -> ResponseCache:
    """Redis when ``VODFLOW_REDIS_URL`` is set, else the in-process cache."""
    url = s["VODFLOW_REDIS_URL"].strip()
    return RedisCache(url, ttl) if url else LocalCache(ttl, size)
