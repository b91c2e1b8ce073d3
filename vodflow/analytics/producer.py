"""The API's producer of player events: one per app, durable before ``POST /events`` answers.

``vodflow.clients.kafka_producer`` settings (acks=all, batching, gzip), created on first use, rebuilt after a
failure (:class:`vodflow.clients.LazyProducer`); every event is keyed by ``session_id`` on
``settings.topic_events``. :mod:`vodflow.analytics.routes` is the HTTP side.
"""

from __future__ import annotations

import time

from vodflow.analytics.events import BaseEvent
from vodflow.clients import LazyProducer
from vodflow.settings import Settings

DEFAULT_KAFKA_TIMEOUT = 10.0


class EventsUnavailable(RuntimeError):
    """Kafka did not acknowledge the events."""


class EventProducer(LazyProducer):
    """The app's one producer for events: lazily created, rebuilt after any failure, thread-safe."""

    def __init__(self, settings: Settings, timeout: float = DEFAULT_KAFKA_TIMEOUT):
        ms = int(timeout * 1000)
        request_ms = max(1000, min(15000, ms))
        # Batching and gzip come from kafka_producer; a short linger since we flush anyway.
        super().__init__(settings, dict(bootstrap_timeout_ms=ms, max_block_ms=ms, request_timeout_ms=request_ms,
                                        delivery_timeout_ms=max(ms, request_ms + 1000), linger_ms=5,
                                        client_id="vodflow-events"))
        self.timeout = timeout

    def publish(self, events: list[BaseEvent]) -> int:
        """Produce ``events`` and wait until every one is acknowledged (acks=all); returns the count."""
        topic = self.settings.topic_events
        deadline = time.monotonic() + self.timeout
        try:
            producer = self._get()
            futures = []
            for ev in events:
                key, value, headers = ev.to_kafka()
                futures.append(producer.send(topic, key=key, value=value, headers=headers))
            producer.flush(timeout=max(0.1, deadline - time.monotonic()))
            for f in futures:
                f.get(timeout=max(0.1, deadline - time.monotonic()))
            return len(futures)
        except Exception as e:  # noqa: BLE001 - any Kafka failure means "not durable"
            self._reset()
            raise EventsUnavailable(
                f"Kafka is unavailable: {len(events)} event(s) were not acknowledged on topic {topic!r} at "
                f"{self.settings.kafka_bootstrap} ({type(e).__name__}: {e}); resend the batch later "
                "(same event_ids: duplicates are dropped downstream)") from e
