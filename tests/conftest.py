"""Test-wide setup.

Airflow reads its configuration at import time, so the Airflow environment of the
local stack is exported here, before any test imports airflow. Tests that need
the running services take the ``stack`` fixture; `make test` starts the stack,
and the fixture starts it too when pytest is run alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vodflow.settings import get_settings
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
