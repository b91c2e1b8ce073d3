"""Accounts and tokens for tests (any test directory: ``from authkit import ...``).

Users are created in the catalog DB of the settings given (tests use private catalogs);
tokens are minted directly with ``vodflow.auth.tokens`` (same key as the API under test:
both read ``$VODFLOW_HOME/keys/jwt.secret`` or ``VODFLOW_JWT_SECRET``).
"""

from __future__ import annotations

import uuid

PASSWORD = "correct horse battery staple"


def make_user(settings, *, role: str = "viewer", country: str = "US", subscription: str = "active",
              plan: str = "standard", email: str | None = None, user_id: str | None = None,
              password: str = PASSWORD):
    """A new account (``UserRecord``) in ``settings.catalog_db_url``."""
    from vodflow.accounts import get_user_store

    email = email or f"{role}-{uuid.uuid4().hex[:10]}@test.vodflow.local"
    return get_user_store(settings.catalog_db_url).create(email, password, country=country, plan=plan, role=role,
                                                          subscription=subscription, user_id=user_id)


def token_for(settings, user, **kw) -> str:
    from vodflow.auth.tokens import issue_access_token

    return issue_access_token(settings, user, **kw)


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def headers_for(settings, user, **kw) -> dict[str, str]:
    """``Authorization`` header of a fresh access token of ``user``."""
    return auth_header(token_for(settings, user, **kw))


def admin_headers(settings) -> dict[str, str]:
    """Headers of the settings' admin account (``VODFLOW_ADMIN_EMAIL``, created if missing)."""
    from vodflow.stack.bootstrap import ensure_admin
    from vodflow.accounts import get_user_store

    email, _ = ensure_admin(settings)
    return headers_for(settings, get_user_store(settings.catalog_db_url).by_email(email))
