"""Clients for the platform's services, configured from settings (boto3, kafka-python).

Everything that talks to S3 or Kafka gets its client here, so that pointing vodflow
at AWS or a Kafka cluster is a matter of ``VODFLOW_*`` settings.

The object store is reached by five kinds of client, and each one's options are built here and
nowhere else (path-style requests, the configured region, plain http only when the endpoint is ``http://``).
The media (masters, renditions, MLflow artifacts) use the ``VODFLOW_S3_*`` settings; an ``s3a://`` lake uses
``VODFLOW_LAKE_S3_*``, each of which falls back to the media's when empty (the cluster profile gives the lake
its own S3 server, ``lake-s3``, whose put-if-absent is atomic):

* :func:`s3_client`             boto3 (ingest, publish, health checks)
* :func:`lake_s3_client`        boto3 on the lake's S3 (its bucket, health checks)
* :func:`s3_env`                ``AWS_*`` environment of processes using an AWS SDK (MLflow, Airflow, API)
* :func:`delta_storage_options` delta-rs / object_store (analytics queries, recs serving)
* :func:`spark_s3a_conf`        Hadoop ``fs.s3a.*`` of Spark sessions
* :func:`airflow_s3_connection` the ``vodflow_s3`` Airflow connection
"""

from __future__ import annotations

from vodflow.settings import Settings, get_settings


def s3_client(settings: Settings | None = None, timeout: float = 30):
    s = settings or get_settings()
    return _boto3_s3(s.s3_endpoint, s.s3_access_key, s.s3_secret_key, s.s3_region, timeout)


def lake_s3_client(settings: Settings | None = None, timeout: float = 30):
    """boto3 on the lake's S3 (``VODFLOW_LAKE_S3_*``, falling back to the media's ``VODFLOW_S3_*``)."""
    s = settings or get_settings()
    return _boto3_s3(s.lake_s3_endpoint, s.lake_s3_access_key, s.lake_s3_secret_key, s.s3_region, timeout)


def _boto3_s3(endpoint: str | None, access_key: str, secret_key: str, region: str, timeout: float):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(signature_version="s3v4", connect_timeout=timeout, read_timeout=max(timeout, 60),
                      retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path"},
                      # S3-compatible servers (S3Proxy, older MinIO) reject the newer default
                      # CRC checksum trailers; only send checksums where the API requires them.
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def s3_env(s: Settings) -> dict[str, str]:
    """Environment that points AWS SDKs (boto3, MLflow) at the configured S3."""
    env = {
        "AWS_ACCESS_KEY_ID": s.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": s.s3_secret_key,
        "AWS_DEFAULT_REGION": s.s3_region,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }
    if s.s3_endpoint:
        env["MLFLOW_S3_ENDPOINT_URL"] = s.s3_endpoint
        env["AWS_ENDPOINT_URL_S3"] = s.s3_endpoint
    return env


REMOTE_SCHEMES = ("s3a://", "s3://", "s3n://")  # object-store URIs (local paths and file:// are not)


def delta_storage_options(s: Settings, uri: str | None = None) -> dict[str, str] | None:
    """delta-rs (object_store) options for ``uri`` (default the lake): the lake's S3 keys, region, endpoint
    (``VODFLOW_LAKE_S3_*``, else the media's ``VODFLOW_S3_*``); None when ``uri`` is a local path.

    Same values as :func:`spark_s3a_conf` (path-style requests); plain-http endpoints (S3Proxy, SeaweedFS,
    MinIO) need ``AWS_ALLOW_HTTP``. delta-rs reads ``s3a://`` URIs as is. delta-rs also reads ``AWS_*``
    environment variables (processes started by `vodflow up` carry the media's, :func:`s3_env`), and an alias
    found there (``AWS_ENDPOINT_URL_S3``, ``AWS_DEFAULT_REGION``) wins over the option of the other spelling:
    both spellings are given. Commits: delta-rs 1.x writes each log entry with a put-if-absent
    (``If-None-Match: *``; ``conditional_put=etag``, which :mod:`vodflow.analytics.lake_rs` also names), safe
    for concurrent writers only on a server whose conditional put is atomic (docs/reliability.md).
    """
    if not (s.lake_uri if uri is None else uri).startswith(REMOTE_SCHEMES):
        return None
    opts = {
        "AWS_ACCESS_KEY_ID": s.lake_s3_access_key,
        "AWS_SECRET_ACCESS_KEY": s.lake_s3_secret_key,
        "AWS_REGION": s.s3_region,
        "AWS_DEFAULT_REGION": s.s3_region,
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }
    endpoint = s.lake_s3_endpoint
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = opts["AWS_ENDPOINT_URL_S3"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def spark_s3a_conf(s: Settings) -> dict[str, str]:
    """Spark's Hadoop ``fs.s3a.*`` settings for an ``s3a://`` lake (empty for a local one): the lake's S3
    (``VODFLOW_LAKE_S3_*``, else the media's), its keys only (not the AWS SDK's environment or instance
    chain: the processes' ``AWS_*`` environment names the media's store), path-style requests."""
    if not s.lake_uri.startswith("s3a://"):
        return {}
    conf = {
        "spark.hadoop.fs.s3a.access.key": s.lake_s3_access_key,
        "spark.hadoop.fs.s3a.secret.key": s.lake_s3_secret_key,
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.endpoint.region": s.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
    }
    endpoint = s.lake_s3_endpoint
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        if endpoint.startswith("http://"):
            conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
    return conf


def airflow_s3_connection(s: Settings) -> dict:
    """The ``vodflow_s3`` Airflow connection (``conn_type`` aws; its ``extra`` is JSON)."""
    import json

    extra = {"region_name": s.s3_region}
    if s.s3_endpoint:
        extra["endpoint_url"] = s.s3_endpoint
    return dict(conn_id="vodflow_s3", conn_type="aws", login=s.s3_access_key, password=s.s3_secret_key,
                extra=json.dumps(extra), description="vodflow object store (VODFLOW_S3_*)")


def kafka_producer(settings: Settings | None = None, **overrides):
    """A durable producer: acks=all, idempotent (a retry after a lost ack never writes twice), batching and
    compression."""
    from kafka import KafkaProducer

    s = settings or get_settings()
    conf = dict(
        bootstrap_servers=s.kafka_bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
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
