"""Fixtures for the API tests: real S3 and Kafka, a real uvicorn server per app, a private catalog DB."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from apikit import serve, settings_with

from vodflow.settings import Settings


@pytest.fixture(scope="session")
def services(request, settings) -> Settings:
    """Settings of a running S3 + Kafka.

    When both already answer (``make test`` started the stack, or a developer runs only S3 and
    Kafka, e.g. ``vodflow up --only s3 --only kafka``), they are used as they are; otherwise the
    session ``stack`` fixture starts the local stack.
    """
    from vodflow.stack import health

    if health.s3(settings)[0] and health.kafka(settings)[0]:
        return settings
    return request.getfixturevalue("stack")


@pytest.fixture(scope="session")
def catalog_url(tmp_path_factory) -> str:
    """A catalog DB of its own, so tests never touch the stack's catalog."""
    return f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'sub' / 'catalog.db'}"


@pytest.fixture(scope="session")
def ingest_topic(services) -> Iterator[str]:
    """A private ingest topic, so the uploads of these tests never reach the live ingest_dispatch DAG."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = f"test_ingest_requests_{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=services.kafka_bootstrap, client_id="vodflow-tests")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    try:
        yield topic
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()


@pytest.fixture(scope="module")
def api_settings(services, catalog_url, ingest_topic) -> Settings:
    """Settings of the test API; its catalog has the admin account (as `vodflow up` makes it)."""
    from vodflow.stack.bootstrap import ensure_admin

    s = settings_with(VODFLOW_CATALOG_DB_URL=catalog_url, VODFLOW_TOPIC_INGEST=ingest_topic)
    ensure_admin(s)
    return s


@pytest.fixture(scope="module")
def admin(api_settings) -> dict[str, str]:
    """``Authorization`` header of the admin (uploads and re-queues need it)."""
    from authkit import admin_headers

    return admin_headers(api_settings)


@pytest.fixture(scope="module")
def api_url(api_settings) -> Iterator[str]:
    from vodflow.api.app import create_app

    with serve(create_app(api_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def s3(services):
    from vodflow.clients import s3_client

    return s3_client(services)
