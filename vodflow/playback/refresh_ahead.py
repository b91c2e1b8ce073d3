"""A small refresh-ahead cache: a stale entry is served at once while one background thread renews it.

Why: ``/play`` keeps ready titles and signed policies in memory. With a plain TTL cache, the first
request after an entry expires waits for the reload (a thread-pool hop and a DB read, or an RSA
signature), and at a 5-minute signing step every title expires together -- the spikes in the p99.
Here each entry has two ages:

* **fresh** -- served as is;
* **stale but usable** -- served as is, and a reload is queued (at most one per key at a time) on a
  single background thread; the next requests get the new value once it lands;
* **unusable** (or absent) -- :meth:`RefreshAhead.peek` says None and the caller loads it itself with
  :meth:`RefreshAhead.get` (blocking; in the thread pool).

What counts as fresh or usable is the owner's call (``fresh(value, age_s)``, ``usable(value,
age_s)``): titles use their age, signatures their remaining validity. ``load`` returns the value, or
None for "do not cache" (a title that is not ready, or gone: its entry is dropped). A background
reload that fails keeps the stale entry (until it becomes unusable) and logs why.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, Hashable, TypeVar

from cachetools import LRUCache

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_refresher: ThreadPoolExecutor | None = None
_refresher_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """One daemon thread per process for all reloads (they are short and rare)."""
    global _refresher
    with _refresher_lock:
        if _refresher is None:
            _refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresh-ahead")
        return _refresher


class RefreshAhead(Generic[K, V]):
    def __init__(self, load: Callable[[K], V | None], *, fresh: Callable[[V, float], bool],
                 usable: Callable[[V, float], bool], keep: Callable[[V], bool] = lambda v: True,
                 maxsize: int = 20_000, clock: Callable[[], float] = time.monotonic):
        self._load, self._fresh, self._usable, self._keep = load, fresh, usable, keep
        self._clock = clock
        self._entries: LRUCache = LRUCache(maxsize=maxsize)   # key -> (value, loaded_at)
        self._pending: set = set()
        self._lock = threading.Lock()
        self.reloads = 0           # background reloads done (for tests and ops)

    def peek(self, key: K) -> V | None:
        """The cached value if usable, else None. Never blocks on I/O: safe on the event loop.
        A stale value is returned and its reload queued."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, at = entry
            age = self._clock() - at
            if self._fresh(value, age):
                return value
            if not self._usable(value, age):
                return None
            if key in self._pending:
                return value
            self._pending.add(key)
        try:
            _background().submit(self._reload, key)
        except RuntimeError:       # interpreter shutting down: no more background work
            with self._lock:
                self._pending.discard(key)
        return value

    def get(self, key: K) -> V | None:
        """The cached value if usable, else load it now (blocking) and cache it if ``keep`` says so."""
        hit = self.peek(key)
        if hit is not None:
            return hit
        value = self._load(key)
        self._store(key, value)
        return value

    def _store(self, key: K, value: V | None) -> None:
        with self._lock:
            if value is not None and self._keep(value):
                self._entries[key] = (value, self._clock())
            else:
                self._entries.pop(key, None)

    def _reload(self, key: K) -> None:
        try:
            self._store(key, self._load(key))
            self.reloads += 1
        except Exception as e:  # keep serving the stale entry; the next stale peek tries again
            log.warning("background reload of %r failed (the cached value is served meanwhile): %s", key, e)
        finally:
            with self._lock:
                self._pending.discard(key)

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
