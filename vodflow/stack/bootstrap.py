"""Idempotent platform resources: Kafka topics and S3 buckets."""

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


def ensure_topics(s: Settings) -> list[str]:
    """Create the platform topics that do not exist yet; returns the ones created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="vodflow-bootstrap")
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in s.topics.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
