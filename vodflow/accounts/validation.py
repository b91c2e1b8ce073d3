"""What an account may hold: email shape, ISO country code, plan, role, subscription status."""

from __future__ import annotations

import re

from vodflow.catalog.models import Role, SubscriptionStatus

# Plans are informational for now (what the subscriber pays for); what may be played is decided by
# the subscription status and the country. A plan-dependent ladder cap would read it here.
PLANS: dict[str, str] = {
    "basic": "one stream, up to 720p",
    "standard": "two streams, up to 1080p",
    "premium": "four streams, best rung available",
}
MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?)+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class InvalidAccountData(ValueError):
    """A value an account cannot hold; the message says what is accepted."""


def normalize_email(email: str) -> str:
    e = (email or "").strip().lower()
    if len(e) > MAX_EMAIL or not _EMAIL.match(e):
        raise InvalidAccountData(f"{email!r} is not an email address (expected name@domain.tld)")
    return e


def normalize_country(country: str) -> str:
    c = (country or "").strip().upper()
    if not _COUNTRY.match(c):
        raise InvalidAccountData(f"{country!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, FR)")
    return c


def normalize_plan(plan: str) -> str:
    p = (plan or "").strip().lower()
    if p not in PLANS:
        raise InvalidAccountData(f"unknown plan {plan!r}; choose one of {', '.join(PLANS)}")
    return p


def normalize_role(role: str | Role) -> Role:
    try:
        return Role(role.value if isinstance(role, Role) else str(role).strip().lower())
    except ValueError:
        raise InvalidAccountData(f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}") from None


def normalize_subscription(status: str | SubscriptionStatus) -> SubscriptionStatus:
    try:
        return SubscriptionStatus(status.value if isinstance(status, SubscriptionStatus)
                                  else str(status).strip().lower())
    except ValueError:
        raise InvalidAccountData(f"unknown subscription status {status!r}; choose one of "
                                 f"{', '.join(s.value for s in SubscriptionStatus)}") from None
