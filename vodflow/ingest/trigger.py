"""Kafka → Airflow: turn an ingest request message into the payload of an asset event.

Used by the AssetWatcher of the ``video_ingest`` DAG (AwaitMessageTrigger's apply_function).
A malformed message is logged and skipped (returning None keeps the trigger polling), so one
bad record can never block the queue.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)


def ingest_request_payload(message) -> dict | None:
    """confluent_kafka Message → {"video_id", "source_key", "title"} or None to skip it."""
    try:
        data = json.loads(message.value())
        if not isinstance(data, dict) or not data.get("video_id") or not data.get("source_key"):
            raise ValueError("video_id and source_key are required")
        return {"video_id": str(data["video_id"]), "source_key": str(data["source_key"]),
                "title": str(data.get("title") or ""), "offset": message.offset(),
                "partition": message.partition()}
    except (ValueError, TypeError) as e:
        log.warning("skipping malformed ingest request at %s[%s]@%s: %s", message.topic(),
                    message.partition(), message.offset(), e)
        return None
