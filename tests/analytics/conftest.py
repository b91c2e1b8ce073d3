"""Fixtures of the analytics tests.

Only the router tests need a service (Kafka). ``kafka_settings`` uses the Kafka of the current
``VODFLOW_*`` settings when it answers (e.g. an isolated ``vodflow up --only kafka``) and falls back
to the session ``stack`` fixture otherwise. Each module gets a private events topic, so tests never
read or write the platform's ``video_events``.
"""

from __future__ import annotations

import pytest

from eventkit import fresh_topic

from vodflow.settings import Settings


@pytest.fixture(scope="session")
def kafka_settings(request, settings) -> Settings:
    from vodflow.stack import health

    if health.kafka(settings)[0]:
        return settings
    return request.getfixturevalue("stack")


@pytest.fixture(scope="module")
def events_topic_settings(kafka_settings) -> Settings:
    """Settings whose ``topic_events`` is a fresh 2-partition topic (deleted afterwards)."""
    with fresh_topic(kafka_settings) as s:
        yield s


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A small lake written with delta-rs (``lakekit``), with hand-computed answers; one per module."""
    from lakekit import build_lake

    return build_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture
def cli(lake):
    """Invoke the real `vodflow` app with VODFLOW_LAKE_URI pointing at the test lake."""
    from typer.testing import CliRunner

    from vodflow.cli import app
    from vodflow.settings import get_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("VODFLOW_LAKE_URI", lake.lake_uri)
    get_settings.cache_clear()
    try:
        yield lambda *args, **kw: CliRunner().invoke(app, list(args), **kw)
    finally:
        mp.undo()
        get_settings.cache_clear()
