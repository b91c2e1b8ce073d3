"""Idempotent platform resources: Kafka topics, S3 buckets and the admin account."""

from __future__ import annotations

from vodflow.clients import s3_client
from vodflow.settings import Settings


def ensure_buckets(s: Settings) -> list[str]:
    """Create the platform buckets that do not exist yet; returns the ones created."""
    client = s3_client(s)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    created = []
    for b in s.buckets:
        if b not in existing:
            client.create_bucket(Bucket=b)
            created.append(b)
    return created


def ensure_lake_bucket(s: Settings) -> str | None:
    """Create the bucket of an object-store lake (VODFLOW_LAKE_URI s3a://bucket/...) on the lake's S3 when it
    does not exist; returns its name when created, None otherwise (also for a local lake)."""
    from botocore.exceptions import ClientError

    from vodflow.clients import lake_s3_client

    if not s.lake_bucket:
        return None
    client = lake_s3_client(s)
    try:
        client.head_bucket(Bucket=s.lake_bucket)
        return None
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    client.create_bucket(Bucket=s.lake_bucket)
    return s.lake_bucket


def ensure_topics(s: Settings) -> list[str]:
    """Create the platform topics that do not exist yet; returns the ones created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="vodflow-bootstrap")
    try:
        existing = set(admin.list_topics())
        rf, isr = int(s["VODFLOW_KAFKA_REPLICATION"]), s["VODFLOW_KAFKA_MIN_INSYNC"]
        created = []
        for name, partitions in s.topics.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=rf,
                                              topic_configs={"min.insync.replicas": isr})])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def ensure_admin(s: Settings) -> tuple[str, bool]:
    """The admin account ``VODFLOW_ADMIN_EMAIL`` in the catalog, created with ``VODFLOW_ADMIN_PASSWORD`` if
    missing (an existing account is left alone: its password is not reset). Returns (email, created)."""
    from vodflow.accounts import get_user_store

    rec, created = get_user_store(s.catalog_db_url).ensure(s.admin_email, s.admin_password, role="admin")
    return rec.email, created
