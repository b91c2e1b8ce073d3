"""Login rate limiting: failed logins per client address and per account email.

Rules (docs/security.md):

* Only *failed* logins count (a wrong email or password); a correct login costs nothing, so a user
  who types the password right is never slowed down by the limit.
* Two budgets, each ``VODFLOW_LOGIN_RATE_LIMIT`` (``limits`` notation, default ``10/minute``, a
  moving window): one per client address (one machine guessing many accounts) and one per email
  (many machines guessing one account). When either is spent, ``POST /auth/login`` answers 429 with
  ``Retry-After`` *before* the password is checked, so a correct guess made past the limit is
  refused too and the attacker learns nothing from it.
* The counters live in Redis when ``VODFLOW_REDIS_URL`` is set (shared by every API worker and
  replica), else in the process (each worker has its own budget).

The counting is the ``limits`` library's moving-window limiter; this module only picks the keys.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import parse, storage, strategies

from vodflow.settings import Settings

NAMESPACE = "vodflow-login"


class RateLimitConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class LoginLimiter:
    """Budgets of failed logins for one settings object."""

    def __init__(self, s: Settings):
        spec = s["VODFLOW_LOGIN_RATE_LIMIT"].strip()
        try:
            self.item = parse(spec)
        except ValueError as e:
            raise RateLimitConfigError(f"VODFLOW_LOGIN_RATE_LIMIT={spec!r} is not a rate like '10/minute' "
                                       f"or '5 per 10 seconds' ({e})") from None
        url = s["VODFLOW_REDIS_URL"].strip()
        self.storage = storage.storage_from_string(url or "memory://")
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)

    @staticmethod
    def _keys(client: str, email: str) -> list[tuple[str, str]]:
        return [("addr", client or "unknown"), ("email", email.strip().lower())]

    def check(self, client: str, email: str) -> Verdict:
        """May this client try this email now? (Counts nothing.)"""
        waits = []
        for kind, key in self._keys(client, email):
            if not self.limiter.test(self.item, NAMESPACE, kind, key):
                stats = self.limiter.get_window_stats(self.item, NAMESPACE, kind, key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return Verdict(not waits, max(waits, default=0))

    def failed(self, client: str, email: str) -> None:
        """Count one failed login against both budgets."""
        for kind, key in self._keys(client, email):
            self.limiter.hit(self.item, NAMESPACE, kind, key)
