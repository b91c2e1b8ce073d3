"""The analytics Delta tables: names, locations, schemas, partitioning, and their registration.

One place for the lake layout, used by the streaming job, the maintenance DAG, ``vodflow sql``,
the reports, the titles dimension (``dim/titles``, :mod:`vodflow.analytics.titles`) and the
recommendations (``gold/user_title`` in, ``gold/recommendations`` out). Every table lives at
``settings.table_path(path)`` and is registered in Spark SQL as ``vodflow.<name>``
(:func:`register`). Column descriptions are the analyst's reference (``docs/analytics.md``).
pyspark is imported lazily: the module is light enough for the API and the CLI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.analytics")

DATABASE = "vodflow"


@dataclass(frozen=True)
class Table:
    name: str                                  # vodflow.<name> in Spark SQL, <name> in `vodflow sql`
    path: str                                  # under VODFLOW_LAKE_URI
    columns: tuple[tuple[str, str, str], ...]  # (name, Spark SQL type, description)
    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()           # Z-order columns for OPTIMIZE (what analysts filter by)
    doc: str = ""
    stats_columns: tuple[str, ...] = ()        # Delta file statistics only on these (default: Delta's first 32)
    fill_hint: str = ""                        # how to fill it now, when the stream is not what writes it

    def properties(self) -> dict[str, str]:
        """Table properties set at creation (and brought in line by :func:`ensure` on older tables)."""
        props = {"delta.deletedFileRetentionDuration": "interval 168 hours"}  # Delta 4 reads VACUUM's retention here
        if self.stats_columns:
            props["delta.dataSkippingStatsColumns"] = ",".join(self.stats_columns)
        return props

    def ddl(self) -> str:
        return ", ".join(f"{n} {t}" for n, t, _ in self.columns)

    @property
    def column_names(self) -> list[str]:
        return [n for n, _, _ in self.columns]

    def location(self, s: Settings | None = None) -> str:
        return (s or get_settings()).table_path(self.path)


_EVENT_COLUMNS = (
    ("schema_version", "INT", "wire-format version of the event"),
    ("type", "STRING", "event type: video_started, video_progress, ..."),
    ("event_id", "STRING", "UUID; unique in this table (deduplicated)"),
    ("session_id", "STRING", "playback session (UUID)"),
    ("user_id", "STRING", "account id"),
    ("video_id", "STRING", "catalog id of the title"),
    ("client_ts", "TIMESTAMP", "when it happened (client clock, UTC); the event time"),
    ("server_ts", "TIMESTAMP", "when the API received it (Kafka time for events produced directly)"),
    ("position_s", "DOUBLE", "position in the title, seconds"),
    ("duration_s", "DOUBLE", "length of the title, seconds (null if the player did not know it)"),
    ("rung", "STRING", "ABR rung playing"),
    ("device", "STRING", "web, ios, android, tv, other"),
    ("country", "STRING", "ISO 3166-1 alpha-2"),
    ("played_s", "DOUBLE", "video_progress: seconds played since the previous progress event"),
    ("from_position_s", "DOUBLE", "video_seek: from"),
    ("to_position_s", "DOUBLE", "video_seek: to"),
    ("startup_ms", "BIGINT", "startup: play request to first frame"),
    ("duration_ms", "BIGINT", "rebuffer_end: length of the stall"),
    ("from_rung", "STRING", "bitrate_switch: from"),
    ("to_rung", "STRING", "bitrate_switch: to"),
)

BRONZE = Table(
    "bronze_events", "bronze/video_events",
    (("key", "STRING", "Kafka key (session_id)"),
     ("value", "STRING", "the record exactly as produced"),
     ("topic", "STRING", "Kafka topic"),
     ("partition", "INT", "Kafka partition"),
     ("offset", "BIGINT", "Kafka offset; (topic, partition, offset) is unique"),
     ("kafka_ts", "TIMESTAMP", "Kafka record timestamp"),
     ("ingest_date", "DATE", "partition: date of kafka_ts")),
    partition_by=("ingest_date",),
    stats_columns=("partition", "offset", "kafka_ts"),   # not the raw JSON: no one filters on it
    doc="Every Kafka record as received, append only: the replay source of everything else.")

SILVER = Table(
    "events", "silver/video_events",
    _EVENT_COLUMNS + (
        ("kafka_partition", "INT", "where it was read from"),
        ("kafka_offset", "BIGINT", "where it was read from"),
        ("event_date", "DATE", "partition: date of client_ts (UTC)")),
    partition_by=("event_date", "type"),
    cluster_by=("video_id", "user_id"),
    doc="Validated events, one row per event_id (duplicates within the watermark are dropped).")

QUARANTINE = Table(
    "quarantine", "silver/quarantine",
    (("kind", "STRING", "malformed (not an event), invalid (a rule failed) or late (beyond the watermark)"),
     ("reason", "STRING", "why, e.g. 'position_s: must be >= 0'"),
     ("event_id", "STRING", "if one could be read"),
     ("value", "STRING", "the raw record, untouched"),
     ("topic", "STRING", "Kafka topic"),
     ("partition", "INT", "Kafka partition"),
     ("offset", "BIGINT", "Kafka offset"),
     ("kafka_ts", "TIMESTAMP", "Kafka record timestamp"),
     ("batch_id", "BIGINT", "stream micro-batch that quarantined it"),
     ("quarantine_date", "DATE", "partition: date of kafka_ts")),
    partition_by=("quarantine_date",),
    stats_columns=("kind", "event_id", "partition", "offset", "kafka_ts", "batch_id"),
    doc="Records that never reach silver, with the reason. Nothing is dropped silently.")

SESSIONS = Table(
    "sessions", "gold/sessions",
    (("session_id", "STRING", "playback session"),
     ("user_id", "STRING", "account"),
     ("video_id", "STRING", "title"),
     ("device", "STRING", "device of the session"),
     ("country", "STRING", "country of the session"),
     ("started_at", "TIMESTAMP", "earliest client_ts of the session; the session counts in this hour/day"),
     ("prev_started_at", "TIMESTAMP", "started_at before the last update (bookkeeping for late events)"),
     ("last_event_at", "TIMESTAMP", "latest client_ts"),
     ("last_position_s", "DOUBLE", "position of the latest event: where the viewer was when they left"),
     ("max_position_s", "DOUBLE", "furthest position reached"),
     ("duration_s", "DOUBLE", "title length reported by the player"),
     ("played_s", "DOUBLE", "seconds watched (sum of video_progress.played_s)"),
     ("events", "BIGINT", "events in the session"),
     ("completed", "BOOLEAN", "a video_completed event was seen"),
     ("startup_ms", "BIGINT", "startup time (first startup event)"),
     ("rebuffers", "BIGINT", "stalls (rebuffer_end events)"),
     ("rebuffer_ms", "BIGINT", "total stall time"),
     ("seeks", "BIGINT", "video_seek events"),
     ("switches", "BIGINT", "bitrate_switch events")),
    cluster_by=("video_id", "started_at"),
    doc="One row per playback session, updated as its events arrive; the basis of the title tables.")

_TITLE_METRICS = (
    ("views", "BIGINT", "sessions that started in the period"),
    ("unique_viewers", "BIGINT", "distinct users among those sessions"),
    ("watch_time_s", "DOUBLE", "seconds watched in those sessions"),
    ("completions", "BIGINT", "sessions with video_completed"),
    ("completion_rate", "DOUBLE", "completions / views"),
    ("avg_share_watched", "DOUBLE", "mean of min(1, played_s / duration_s) over sessions with a duration"),
    ("dropoff", "ARRAY<BIGINT>", "20 buckets of 5 % of the title: sessions that ended there without completing"),
    ("updated_at", "TIMESTAMP", "when this row was last recomputed"),
)

TITLE_HOURLY = Table(
    "title_hourly", "gold/title_hourly",
    (("video_id", "STRING", "title"), ("hour", "TIMESTAMP", "hour of started_at (UTC)")) + _TITLE_METRICS,
    cluster_by=("video_id", "hour"),
    doc="Per title and hour.")

TITLE_DAILY = Table(
    "title_daily", "gold/title_daily",
    (("video_id", "STRING", "title"), ("date", "DATE", "date of started_at (UTC)")) + _TITLE_METRICS,
    cluster_by=("video_id", "date"),
    doc="Per title and day.")

USER_TITLE = Table(
    "user_title", "gold/user_title",
    (("user_id", "STRING", "account"),
     ("video_id", "STRING", "title"),
     ("sessions", "BIGINT", "sessions of this user on this title"),
     ("watch_time_s", "DOUBLE", "seconds watched in total"),
     ("watch_fraction", "DOUBLE", "min(1, watch_time_s / duration_s): share of the title seen"),
     ("completed", "BOOLEAN", "any session completed"),
     ("last_watched", "TIMESTAMP", "latest event of the user on the title")),
    cluster_by=("user_id",),
    doc="Implicit feedback per user and title: the input of recs_training.")

PLAYBACK_QUALITY = Table(
    "playback_quality", "gold/playback_quality",
    (("date", "DATE", "date of the events (client_ts, UTC)"),
     ("rung", "STRING", "ABR rung"),
     ("device", "STRING", "device"),
     ("startups", "BIGINT", "startup events (rung = the first rung played)"),
     ("startup_ms_p50", "DOUBLE", "median startup time (exact, interpolated)"),
     ("startup_ms_p95", "DOUBLE", "95th percentile startup time"),
     ("played_s", "DOUBLE", "seconds played on this rung"),
     ("rebuffers", "BIGINT", "stalls on this rung"),
     ("rebuffer_ms", "BIGINT", "stall time on this rung"),
     ("rebuffer_ratio", "DOUBLE", "rebuffer_ms / (rebuffer_ms + 1000 * played_s)"),
     ("updated_at", "TIMESTAMP", "when this row was last updated")),
    cluster_by=("date", "device"),
    doc="Playback quality per day, rung and device.")

GOLD_PROGRESS = Table(
    "gold_progress", "_state/gold_progress",
    (("batch_id", "BIGINT", "stream micro-batch"),
     ("events", "BIGINT", "new silver events folded into gold by the batch"),
     ("max_server_ts", "TIMESTAMP", "newest server_ts (API receipt / Kafka time) now reflected in gold"),
     ("freshness_p50_s", "DOUBLE", "median of (gold commit - server_ts) over the batch's events"),
     ("freshness_p99_s", "DOUBLE", "99th percentile of the same"),
     ("freshness_max_s", "DOUBLE", "largest of the same"),
     ("freshness_hist", "ARRAY<BIGINT>", "events by whole seconds of that delay: [0-1 s), [1-2 s), ...; the last "
                                         "bucket holds everything from 600 s on"),
     ("committed_at", "TIMESTAMP", "when the batch's gold writes finished"),
     ("rows", "BIGINT", "Kafka records in the batch (all of them are in bronze)"),
     ("quarantined", "BIGINT", "records of the batch sent to quarantine"),
     ("max_client_ts", "TIMESTAMP", "largest client_ts accepted so far"),
     ("watermark", "TIMESTAMP", "max_client_ts - VODFLOW_EVENTS_LATENESS: older events are late for the next batch"),
     ("steps", "MAP<STRING, DOUBLE>", "seconds each step of the batch took (read, bronze, parse, quarantine, "
                                      "silver (dedup), silver_append, collect (gold inputs to the driver), "
                                      "sessions, touched, title_hourly, title_daily, user_title, "
                                      "playback_quality, progress, total); steps in the background overlap")),
    doc="One row per stream micro-batch: its watermark (deterministic on replay), what gold now reflects, "
        "freshness, and the time of each step (`vodflow stream`).")

TITLES = Table(
    "titles", "dim/titles",
    (("video_id", "STRING", "catalog id of the title (one row per title): join the other tables on it"),
     ("title", "STRING", "the title's name in the catalog"),
     ("status", "STRING", "uploaded, processing, ready, failed, or deleted (gone from the catalog; the row stays "
                          "so old events keep their name)"),
     ("duration_s", "DOUBLE", "length of the master, seconds (null until the ingest probed it)"),
     ("regions", "ARRAY<STRING>", "ISO 3166-1 alpha-2 countries it may play in; empty = worldwide"),
     ("renditions", "INT", "published ABR rungs"),
     ("top_height", "INT", "height of the highest rung, pixels"),
     ("error", "STRING", "why the ingest failed (status failed)"),
     ("created_at", "TIMESTAMP", "when it was uploaded"),
     ("ready_at", "TIMESTAMP", "when it was last published"),
     ("catalog_updated_at", "TIMESTAMP", "last change of the catalog row this copy reflects"),
     ("synced_at", "TIMESTAMP", "when this row was last written")),
    cluster_by=("video_id",),
    doc="The catalog's titles, one row per video_id: written when a title is published (video_ingest) and "
        "brought in step with the catalog hourly (analytics_maintenance `sync_titles`), so queries show names.",
    fill_hint="`vodflow sync-titles` fills it from the catalog now")

RECOMMENDATIONS = Table(
    "recommendations", "gold/recommendations",
    (("user_id", "STRING", "account"),
     ("video_id", "STRING", "recommended title"),
     ("rank", "INT", "1 = best"),
     ("score", "FLOAT", "the model's score (user factors . item factors)"),
     ("model_name", "STRING", "registered MLflow model"),
     ("model_version", "STRING", "its version (the champion when published)"),
     ("table_version", "BIGINT", "version of gold/user_title the seen sets come from"),
     ("generated_at", "TIMESTAMP", "when the lists were published")),
    doc="The champion's top-N unseen titles per user, overwritten by recs_training's publish task.")

TABLES: dict[str, Table] = {t.name: t for t in (BRONZE, SILVER, QUARANTINE, SESSIONS, TITLE_HOURLY, TITLE_DAILY,
                                                 USER_TITLE, PLAYBACK_QUALITY, GOLD_PROGRESS, TITLES)}
# RECOMMENDATIONS is written only by recs_training (Spark, overwrite): not in TABLES, so the stream's
# :func:`ensure` never creates it empty and the API's "no lists yet" stays true until the first publish
GOLD = (SESSIONS, TITLE_HOURLY, TITLE_DAILY, USER_TITLE, PLAYBACK_QUALITY)
DROPOFF_BUCKETS = 20
FRESHNESS_HIST_S = 600  # freshness histogram: 1 s buckets up to this


def ensure(spark, s: Settings | None = None, tables=None) -> list[str]:
    """Create the tables that do not exist yet (empty, with their schema and partitioning), and add
    the columns a newer vodflow declares to tables an older one created (additive evolution: a lake
    outlives upgrades). Idempotent; returns ``["table.column", ...]`` it added."""
    from delta.tables import DeltaTable

    s = s or get_settings()
    added: list[str] = []
    for t in tables or TABLES.values():
        if DeltaTable.isDeltaTable(spark, t.location(s)):
            added += _add_missing_columns(spark, t, s)
            _align_properties(spark, t, s)
            continue
        b = DeltaTable.createIfNotExists(spark).location(t.location(s))
        for n, typ, desc in t.columns:
            b = b.addColumn(n, typ, comment=desc)
        if t.partition_by:
            b = b.partitionedBy(*t.partition_by)
        for k, v in t.properties().items():
            b = b.property(k, v)
        b.execute()
    return added


def _add_missing_columns(spark, t: Table, s: Settings) -> list[str]:
    have = {f.name.lower() for f in spark.read.format("delta").load(t.location(s)).schema.fields}
    missing = [(n, typ, desc) for n, typ, desc in t.columns if n.lower() not in have]
    if not missing:
        return []
    cols = ", ".join(f"{n} {typ} COMMENT '{desc.replace(chr(39), chr(39) * 2)}'" for n, typ, desc in missing)
    spark.sql(f"ALTER TABLE delta.`{t.location(s)}` ADD COLUMNS ({cols})")
    log.warning(
        "%s: added columns %s (table created by an older vodflow)", t.name, ", ".join(n for n, _, _ in missing))
    return [f"{t.name}.{n}" for n, _, _ in missing]


def _align_properties(spark, t: Table, s: Settings) -> None:
    """Statistics columns of a table created by an older vodflow (one ALTER, only when they differ)."""
    want = {k: v for k, v in t.properties().items() if k == "delta.dataSkippingStatsColumns"}
    if not want:
        return
    from delta.tables import DeltaTable

    have = DeltaTable.forPath(spark, t.location(s)).detail().first()["properties"] or {}
    if any(have.get(k) != v for k, v in want.items()):
        items = ", ".join(f"'{k}' = '{v}'" for k, v in want.items())
        spark.sql(f"ALTER TABLE delta.`{t.location(s)}` SET TBLPROPERTIES ({items})")


def register(spark, s: Settings | None = None) -> list[str]:
    """Register every existing table as ``vodflow.<name>`` in this session's catalog; returns the names."""
    from delta.tables import DeltaTable

    s = s or get_settings()
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    done = []
    for t in TABLES.values():
        loc = t.location(s)
        if DeltaTable.isDeltaTable(spark, loc):
            # external tables: dropping the catalog entry never touches the data; re-creating it
            # points the name at this lake even if the session had it registered elsewhere
            spark.sql(f"DROP TABLE IF EXISTS {DATABASE}.{t.name}")
            spark.sql(f"CREATE TABLE {DATABASE}.{t.name} USING DELTA LOCATION '{loc}'")
            done.append(f"{DATABASE}.{t.name}")
    return done
