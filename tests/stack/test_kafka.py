"""The broker is a real Kafka: produce and consume through it with kafka-python."""

import uuid

from kafka import KafkaAdminClient, TopicPartition

from vodflow.clients import kafka_consumer, kafka_producer


def test_platform_topics_exist_with_partitions(stack):
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        desc = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(list(stack.topics))}
    finally:
        admin.close()
    assert desc == stack.topics


def test_produce_and_consume_round_trip(stack):
    topic = f"test_rt_{uuid.uuid4().hex[:8]}"
    p = kafka_producer(stack)
    sent = [f"msg-{i}".encode() for i in range(50)]
    metas = [p.send(topic, key=b"k", value=v) for v in sent]
    p.flush()
    offsets = [m.get(timeout=30).offset for m in metas]
    p.close()
    assert offsets == list(range(50))

    c = kafka_consumer(topic, settings=stack, group_id=f"g-{uuid.uuid4().hex[:6]}")
    got = [r.value for r in c]
    c.close()
    assert got == sent


def test_ensure_topics_is_idempotent(stack):
    from vodflow.stack.bootstrap import ensure_topics

    assert ensure_topics(stack) == []  # second creation: nothing new, no error
