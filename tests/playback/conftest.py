"""Shared fixtures of the playback tests: accounts and their tokens (helpers may append fixtures).

``accounts_settings`` is the settings the accounts live in: by default the process settings with a
private catalog DB per module (so tests never touch the stack's accounts). A module that needs its
accounts elsewhere (e.g. in the live stack's catalog) overrides ``accounts_settings``.
"""

from __future__ import annotations

import os
from typing import Callable

import pytest
from authkit import PASSWORD, auth_header, make_user, token_for

from vodflow.settings import Settings, load


@pytest.fixture(scope="module")
def accounts_settings(tmp_path_factory) -> Settings:
    """Process settings with a private catalog DB (one per module)."""
    return load({**os.environ, "VODFLOW_CATALOG_DB_URL":
                 f"sqlite:///{tmp_path_factory.mktemp('playback-catalog') / 'catalog.db'}"})


@pytest.fixture(scope="module")
def make_account(accounts_settings) -> Callable:
    """``make_account(role="viewer", country="US", subscription="active", plan="standard", email=None,
    user_id=None)`` -> a new ``UserRecord`` (password ``authkit.PASSWORD``)."""
    return lambda **kw: make_user(accounts_settings, **kw)


@pytest.fixture(scope="module")
def headers_of(accounts_settings) -> Callable:
    """``headers_of(user, **token_kw)`` -> ``{"Authorization": "Bearer <fresh access token>"}``."""
    return lambda user, **kw: auth_header(token_for(accounts_settings, user, **kw))


@pytest.fixture(scope="module")
def viewer(make_account):
    """An active US viewer."""
    return make_account(country="US")


@pytest.fixture(scope="module")
def admin(make_account):
    return make_account(role="admin", country="US", plan="premium")


@pytest.fixture(scope="module")
def password() -> str:
    return PASSWORD
