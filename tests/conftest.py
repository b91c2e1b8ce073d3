"""Test-wide setup.

Airflow reads its configuration at import time, so the Airflow environment of the
local stack is exported here, before any test imports airflow. Tests that need
the running services take the ``stack`` fixture; `make test` starts the stack,
and the fixture starts it too when pytest is run alone.

Accounts and their tokens (accounts, auth, playback, cdn tests): ``accounts_settings`` is the settings
the accounts live in: by default the process settings with a private catalog DB per module (so tests
never touch the stack's accounts). A module that needs its accounts elsewhere (e.g. in the live stack's
catalog) overrides ``accounts_settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
from authkit import PASSWORD, auth_header, make_user, token_for

from vodflow.settings import Settings, get_settings, load
from vodflow.stack.services import airflow_env

os.environ.update(airflow_env(get_settings()))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings):
    """The running local stack: started if needed; stopped at the end only if NOTHING ran before.

    When some services were already running (someone else's stack, or `make test`'s), this session
    only starts what is missing and leaves the stack up: stopping it would pull it from under the
    other users (that is how a whole shared stack once vanished in the middle of other test runs).
    """
    from vodflow.stack import manager

    statuses = manager.status(settings)
    started_from_nothing = not any(st.running for st in statuses)
    if not all(st.running and st.healthy for st in statuses):
        manager.up(settings, report=lambda m: None)
    yield settings
    if started_from_nothing:
        manager.down(settings, report=lambda m: None)


@pytest.fixture(scope="session")
def spark(settings):
    from vodflow.spark import get_spark

    return get_spark("vodflow-tests", settings)


def pytest_collection_modifyitems(config, items):
    """Tests that restart the stack run last so they cannot disturb the others."""
    last = [i for i in items if i.get_closest_marker("restarts_stack")]
    items[:] = [i for i in items if not i.get_closest_marker("restarts_stack")] + last


def pytest_configure(config):
    config.addinivalue_line("markers", "restarts_stack: stops and starts the local stack; runs last")


@pytest.fixture(scope="module")
def scheduler_paused(request, stack):
    """Pause the DAGs a module runs with dag.test(), so the live scheduler does not pick up
    the same task instances (a race on the shared metadata DB); unpause afterwards."""
    from vodflow.airflow_client import AirflowClient

    dag_ids = getattr(request.module, "DAG_TEST_IDS", ())
    client = AirflowClient(stack)
    for d in dag_ids:
        client.set_paused(d, True)
    yield
    for d in dag_ids:
        client.set_paused(d, False)


# --------------------------------------------------------------------------- accounts
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
