"""The ingest request: the Kafka message that asks the ingest DAG to process an uploaded master.

Topic ``settings.topic_ingest`` (``VODFLOW_TOPIC_INGEST``, 1 partition: ingest order is kept),
key = ``video_id`` (UTF-8), value = UTF-8 JSON::

    {"video_id": "0b6f...", "source_key": "masters/0b6f.../original.mp4",
     "title": "My film", "requested_at": "2025-01-01T12:00:00.123456+00:00"}

The master is in bucket ``settings.bucket_masters``. Headers: ``content-type: application/json``
and ``schema: vodflow.ingest_request/1``. Consumers parse with :meth:`IngestRequest.from_kafka`,
which ignores unknown fields (new optional fields can be added without breaking them).
The catalog row exists (status ``uploaded``) before the message is published.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vodflow.clients import LazyProducer
from vodflow.settings import Settings, get_settings

SCHEMA = "vodflow.ingest_request/1"
DEFAULT_TIMEOUT = 15.0


class IngestRequest(BaseModel):
    """An ingest request (see the module docstring for the wire format)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    video_id: str = Field(description="catalog id (UUID) of the video")
    source_key: str = Field(min_length=1, description="S3 key of the master in the masters bucket")
    title: str = Field(min_length=1, max_length=500)
    requested_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @field_validator("video_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        return str(uuid.UUID(v))

    @field_validator("requested_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) as published."""
        return (self.video_id.encode(), self.model_dump_json().encode(),
                [("content-type", b"application/json"), ("schema", SCHEMA.encode())])

    @classmethod
    def from_kafka(cls, value: bytes | str) -> IngestRequest:
        """Parse a message value (raises ``pydantic.ValidationError`` on a malformed message)."""
        return cls.model_validate_json(value)


class IngestPublishError(RuntimeError):
    """The request could not be published (Kafka unreachable, no ack in time, ...)."""


def _producer_overrides(timeout: float) -> dict[str, Any]:
    ms = int(timeout * 1000)
    request_ms = max(1000, min(15000, ms))
    return dict(bootstrap_timeout_ms=ms, max_block_ms=ms, request_timeout_ms=request_ms,
                delivery_timeout_ms=max(ms, request_ms), linger_ms=0, client_id="vodflow-api")


class IngestPublisher(LazyProducer):
    """A long-lived producer (acks=all) for the API, created on first use and rebuilt after a failure."""

    def __init__(self, settings: Settings | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(settings or get_settings(), _producer_overrides(timeout))
        self.timeout = timeout

    def publish(self, request: IngestRequest):
        """Send and wait for the broker's ack (acks=all); returns the RecordMetadata."""
        topic = self.settings.topic_ingest
        try:
            key, value, headers = request.to_kafka()
            fut = self._get().send(topic, key=key, value=value, headers=headers)
            return fut.get(timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - any Kafka failure means "not published"
            self._reset()
            raise IngestPublishError(
                f"Kafka is unavailable: the ingest request for video {request.video_id} was not acknowledged "
                f"on topic {topic!r} at {self.settings.kafka_bootstrap} ({type(e).__name__}: {e})") from e


def publish_ingest_request(video_id: str, source_key: str, title: str, *, settings: Settings | None = None,
                           publisher: IngestPublisher | None = None, timeout: float = DEFAULT_TIMEOUT):
    """Publish an ingest request for ``video_id`` and wait for the ack; returns the Kafka RecordMetadata
    (``topic``, ``partition``, ``offset``). Raises :class:`IngestPublishError` if it was not acknowledged.

    Without ``publisher`` a producer is created for this one message and closed afterwards.
    """
    req = IngestRequest(video_id=video_id, source_key=source_key, title=title)
    if publisher is not None:
        return publisher.publish(req)
    pub = IngestPublisher(settings, timeout)
    try:
        return pub.publish(req)
    finally:
        pub.close()
