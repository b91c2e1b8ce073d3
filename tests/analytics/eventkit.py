"""Helpers of the analytics tests: valid raw events to start from, private topics."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from vodflow.settings import load


def make_event(type_: str = "video_progress", **over):
    """A valid raw event (dict) of ``type_``; keyword arguments replace or add fields."""
    ev = {"schema_version": 1, "type": type_, "event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()),
          "user_id": "user-1", "video_id": str(uuid.uuid4()),
          "client_ts": datetime.now(timezone.utc).isoformat(), "position_s": 12.5, "rung": "720p",
          "device": "web", "country": "FR"}
    ev.update({"video_progress": {"played_s": 10.0},
               "video_seek": {"from_position_s": 12.5, "to_position_s": 300.0},
               "startup": {"startup_ms": 850},
               "rebuffer_end": {"duration_ms": 1200},
               "bitrate_switch": {"from_rung": "480p", "to_rung": "720p"}}.get(type_, {}))
    ev.update(over)
    return ev


@contextmanager
def fresh_topic(kafka_settings, **overrides):
    """Settings whose ``topic_events`` is a fresh 2-partition topic (deleted afterwards)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = f"test_video_events_{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap, client_id="vodflow-tests")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    try:
        yield load({**os.environ, **overrides, "VODFLOW_TOPIC_EVENTS": topic})
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()


