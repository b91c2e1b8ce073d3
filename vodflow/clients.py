"""Clients for the platform's services, configured from settings (boto3, kafka-python).

Everything that talks to S3 or Kafka gets its client here, so that pointing vodflow
at AWS or a Kafka cluster is a matter of ``VODFLOW_*`` settings.
"""

from __future__ import annotations

from vodflow.settings import Settings, get_settings


def s3_client(settings: Settings | None = None, timeout: float = 30):
    import boto3
    from botocore.config import Config

    s = settings or get_settings()
    return boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint,
        aws_access_key_id=s.s3_access_key,
        aws_secret_access_key=s.s3_secret_key,
        region_name=s.s3_region,
        config=Config(signature_version="s3v4", connect_timeout=timeout, read_timeout=max(timeout, 60),
                      retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path"},
                      # S3-compatible servers (S3Proxy, older MinIO) reject the newer default
                      # CRC checksum trailers; only send checksums where the API requires them.
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def kafka_producer(settings: Settings | None = None, **overrides):
    """A durable producer: acks=all, idempotent-style retries, batching and compression."""
    from kafka import KafkaProducer

    s = settings or get_settings()
    conf = dict(
        bootstrap_servers=s.kafka_bootstrap.split(","),
        acks="all",
        retries=5,
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type="gzip",
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=15000,
        client_id="vodflow",
    )
    conf.update(overrides)
    return KafkaProducer(**conf)


class LazyProducer:
    """One long-lived producer shared by an app's threads: created on first use, dropped after a
    failure so the next call reconnects. ``overrides`` are passed to :func:`kafka_producer`."""

    def __init__(self, settings: Settings, overrides: dict):
        import threading

        self.settings = settings
        self._overrides = overrides
        self._producer = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._producer is None:
                self._producer = kafka_producer(self.settings, **self._overrides)
            return self._producer

    def _reset(self) -> None:
        with self._lock:
            p, self._producer = self._producer, None
        if p is not None:
            try:
                p.close(timeout=0)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def close(self) -> None:
        self._reset()


def kafka_consumer(*topics: str, settings: Settings | None = None, **overrides):
    from kafka import KafkaConsumer

    s = settings or get_settings()
    conf = dict(bootstrap_servers=s.kafka_bootstrap.split(","), auto_offset_reset="earliest",
                enable_auto_commit=False, consumer_timeout_ms=10000, client_id="vodflow")
    conf.update(overrides)
    return KafkaConsumer(*topics, **conf)
