"""One background refresh at a time: the recs service's re-reads (the registry poll, the catalog, popularity)
run in a daemon thread while requests keep serving what is loaded."""

from __future__ import annotations

import threading
from collections.abc import Callable


def refresh_in_background(lock: threading.Lock, name: str, fn: Callable[[], object]) -> None:
    """Run ``fn`` in a daemon thread that holds ``lock``; nothing when a refresh holding it is running."""
    if not lock.acquire(blocking=False):
        return

    def run() -> None:
        try:
            fn()
        finally:
            lock.release()

    threading.Thread(target=run, name=name, daemon=True).start()
