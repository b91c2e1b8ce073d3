"""Upkeep of the analytics tables (the ``analytics_maintenance`` DAG): compaction with Z-order,
VACUUM with a safe retention, and the freshness check.

OPTIMIZE and the stream may touch the same table at once. OPTIMIZE only rewrites files
(``dataChange=false``); if it loses the race it fails and the Airflow task retries, and if the
stream's write loses it, the write is retried (idempotent: :mod:`vodflow.analytics.txn` for Spark's
appends, :func:`vodflow.analytics.lake_rs.write` for the gold tables).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from vodflow.analytics import tables as T
from vodflow.analytics.intervals import interval_seconds
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.analytics.maintenance")

MIN_VACUUM_HOURS = 168  # Delta's own safety floor: a week of history for time travel and slow readers


def optimize(spark, s: Settings | None = None, recent_days: int = 2) -> dict[str, dict]:
    """Compact every existing table and Z-order it by the columns analysts filter on.
    Partitioned tables are compacted for their last ``recent_days`` partitions only (older ones
    were compacted by earlier runs and no longer change)."""
    from delta.tables import DeltaTable

    s = s or get_settings()
    out = {}
    for t in T.TABLES.values():
        loc = t.location(s)
        if not DeltaTable.isDeltaTable(spark, loc):
            continue
        where = ""
        if t.partition_by and t.partition_by[0] in ("event_date", "ingest_date", "quarantine_date"):
            since = (datetime.now(timezone.utc) - timedelta(days=recent_days)).date().isoformat()
            where = f" WHERE {t.partition_by[0]} >= '{since}'"
        zorder = [c for c in t.cluster_by if c not in t.partition_by]
        stmt = f"OPTIMIZE delta.`{loc}`{where}" + (f" ZORDER BY ({', '.join(zorder)})" if zorder else "")
        m = spark.sql(stmt).first()["metrics"]
        out[t.name] = {"files_added": m["numFilesAdded"], "files_removed": m["numFilesRemoved"]}
        log.info("%s: %s", stmt, out[t.name])
    return out


def vacuum(spark, s: Settings | None = None, retain_hours: int = MIN_VACUUM_HOURS, full: bool = False
           ) -> dict[str, str]:
    """VACUUM every table, never below Delta's 7-day safety retention.

    Delta 4 ignores ``RETAIN n HOURS`` (other than 0) and uses the table property
    ``delta.deletedFileRetentionDuration``, so the retention is set there. The default is ``LITE``
    mode, which finds the files to delete in the Delta log instead of listing the table's
    directory (seconds instead of minutes); ``full`` (or a log too short for LITE) lists and also
    removes files no commit ever referenced, e.g. from a writer that crashed.
    """
    from delta.tables import DeltaTable

    if retain_hours < MIN_VACUUM_HOURS:
        raise ValueError(f"retain_hours={retain_hours} is below the safe minimum of {MIN_VACUUM_HOURS} h: the "
                         "stream and time-travel readers may still need those files")
    s = s or get_settings()
    want = f"interval {int(retain_hours)} hours"
    out = {}
    for t in T.TABLES.values():
        loc = t.location(s)
        if not DeltaTable.isDeltaTable(spark, loc):
            continue
        props = DeltaTable.forPath(spark, loc).detail().first()["properties"] or {}
        if props.get("delta.deletedFileRetentionDuration") != want:
            spark.sql(f"ALTER TABLE delta.`{loc}` SET TBLPROPERTIES ('delta.deletedFileRetentionDuration' = '{want}')")
        mode = "FULL" if full else "LITE"
        try:
            spark.sql(f"VACUUM delta.`{loc}` {mode}").collect()
        except Exception as e:  # noqa: BLE001 - LITE needs the log since the last vacuum; fall back to FULL
            if full:
                raise
            log.info("VACUUM LITE not possible for %s (%s); running FULL", t.name, str(e)[:160])
            mode = "FULL"
            spark.sql(f"VACUUM delta.`{loc}` FULL").collect()
        out[t.name] = mode
    return out


@dataclass
class Freshness:
    newest_on_topic: datetime | None
    newest_in_gold: datetime | None
    lag_s: float
    max_lag_s: float

    @property
    def ok(self) -> bool:
        return self.lag_s <= self.max_lag_s

    def message(self) -> str:
        if self.newest_on_topic is None:
            return "the events topic is empty: nothing to be late on"
        return (f"gold lags the topic by {self.lag_s:.0f} s (allowed {self.max_lag_s:.0f} s): newest event on "
                f"the topic {self.newest_on_topic.isoformat()}, newest reflected in gold "
                f"{self.newest_in_gold.isoformat() if self.newest_in_gold else 'none yet'}")


def newest_topic_timestamp(s: Settings) -> datetime | None:
    """Timestamp of the newest record on the events topic (the last record of each partition)."""
    from kafka import TopicPartition

    from vodflow.clients import kafka_consumer

    c = kafka_consumer(settings=s, group_id=None, consumer_timeout_ms=5000)
    try:
        parts = [TopicPartition(s.topic_events, p) for p in (c.partitions_for_topic(s.topic_events) or [])]
        if not parts:
            return None
        ends = c.end_offsets(parts)
        live = [tp for tp in parts if ends[tp] > 0]
        if not live:
            return None
        c.assign(live)
        for tp in live:
            c.seek(tp, ends[tp] - 1)
        newest, seen = None, set()
        for _ in range(20):
            for tp, recs in c.poll(timeout_ms=1000).items():
                for r in recs:
                    seen.add(tp)
                    ts = datetime.fromtimestamp(r.timestamp / 1000, timezone.utc)
                    newest = ts if newest is None or ts > newest else newest
            if seen >= set(live):
                break
        return newest
    finally:
        c.close()


def newest_gold_timestamp(s: Settings) -> datetime | None:
    """Newest server_ts that gold reflects (from the stream's progress table), read without a JVM."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        t = DeltaTable(T.GOLD_PROGRESS.location(s)).to_pyarrow_table(columns=["max_server_ts"])
    except TableNotFoundError:
        return None
    if t.num_rows == 0:
        return None
    v = pc.max(t["max_server_ts"]).as_py()
    return None if v is None else (v if v.tzinfo else v.replace(tzinfo=timezone.utc))


def check_freshness(s: Settings | None = None) -> Freshness:
    s = s or get_settings()
    max_lag = interval_seconds(s["VODFLOW_EVENTS_FRESHNESS_MAX"])
    topic = newest_topic_timestamp(s)
    gold = newest_gold_timestamp(s)
    if topic is None:
        lag = 0.0
    elif gold is None:
        lag = (datetime.now(timezone.utc) - topic).total_seconds()  # nothing processed: late since it arrived
    else:
        lag = max(0.0, (topic - gold).total_seconds())
    return Freshness(topic, gold, lag, max_lag)
