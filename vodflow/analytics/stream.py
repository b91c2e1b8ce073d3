"""The watch-analytics stream: Kafka → bronze → silver / quarantine → gold, exactly once.

Two Structured Streaming queries in one Spark application, each checkpointed:

* **silver** (Kafka source, ``foreachBatch``): appends every record to bronze; parses and validates
  it (:mod:`validate_spark`); sends malformed, invalid and *late* records to quarantine with the
  reason; inserts the rest into silver with an insert-only ``MERGE`` on ``event_id`` (dedup within
  the watermark); then records the batch's watermark.
* **gold** (Delta source on silver's appends, ``foreachBatch``): folds the new events into
  ``sessions`` (additive ``MERGE``), then recomputes exactly the ``title_hourly``, ``title_daily``
  and ``user_title`` rows those sessions touch, and updates ``playback_quality``.

Exactly once: every Delta write of a batch carries ``txnAppId`` = the query's id (stable across
restarts from the same checkpoint) and ``txnVersion`` = the batch id, so a batch that is replayed
after a crash skips the writes that already committed and redoes the others. What a replay reads
is deterministic too: the watermark of batch N is the one recorded by batch N-1; the title rows
are recomputed from ``sessions`` (not added to), and ``sessions`` keeps ``prev_started_at`` so a
replay still knows which hour a late event moved a session out of.

The watermark is event time: ``max(client_ts accepted so far) - VODFLOW_EVENTS_LATENESS``. An
event older than that is late: it goes to quarantine (kind ``late``), is never counted, and so
the dedup ``MERGE`` only has to look at silver rows newer than the watermark.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from vodflow.analytics import tables as T
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.analytics.stream")

CONFLICT_RETRIES = 5  # a MERGE that loses a race with OPTIMIZE is retried (it is idempotent)
SILVER_QUERY = "vodflow-events-silver"
GOLD_QUERY = "vodflow-events-gold"
GOLD_PROGRESS = T.GOLD_PROGRESS


@dataclass(frozen=True)
class StreamConfig:
    topic: str
    bootstrap: str
    lateness: str            # Spark interval, e.g. "15 minutes"
    trigger: str             # processing-time trigger, e.g. "10 seconds"
    max_offsets: int | None  # maxOffsetsPerTrigger (None: everything available)
    checkpoints: str

    @classmethod
    def from_settings(cls, s: Settings) -> "StreamConfig":
        mo = s["VODFLOW_EVENTS_MAX_OFFSETS"].strip()
        return cls(topic=s.topic_events, bootstrap=s.kafka_bootstrap, lateness=s["VODFLOW_EVENTS_LATENESS"],
                   trigger=s["VODFLOW_EVENTS_TRIGGER"], max_offsets=int(mo) if mo else None,
                   checkpoints=s.table_path("_checkpoints"))


# ----------------------------------------------------------------------------- idempotent writes
def _is_conflict(e: Exception) -> bool:
    """Delta's optimistic-concurrency conflicts (e.g. with OPTIMIZE or a table property change by
    the maintenance DAG): the write did not commit and, being idempotent, can simply be retried."""
    text = type(e).__name__ + " " + str(e)[:400]
    return any(k in text for k in ("Concurrent", "MetadataChanged", "METADATA_CHANGED", "ProtocolChanged",
                                   "DELTA_CONCURRENT"))


class Txn:
    """Delta idempotent-write options for one micro-batch of one query."""

    def __init__(self, spark, app_id: str, batch_id: int):
        self.spark, self.app_id, self.version = spark, app_id, batch_id

    def opts(self) -> dict[str, str]:
        return {"txnAppId": self.app_id, "txnVersion": str(self.version)}

    def append(self, df, table: T.Table, s: Settings) -> None:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            t0 = time.monotonic()
            w = df.write.format("delta").mode("append").options(**self.opts())
            if table.partition_by:
                w = w.partitionBy(*table.partition_by)
            try:
                w.save(table.location(s))
            except Exception as e:  # noqa: BLE001 - only Delta's concurrency conflicts are retried
                if not _is_conflict(e) or attempt == CONFLICT_RETRIES:
                    raise
                log.warning("append conflict (%s), retrying %d/%d", str(e)[:200], attempt, CONFLICT_RETRIES)
                time.sleep(0.5 * attempt)
                continue
            log.info("%s v%s append %s: %.2f s", self.app_id[:28], self.version, table.name, time.monotonic() - t0)
            return

    def sql(self, statement: str) -> None:
        """Run a DML statement (MERGE) as an idempotent write: Delta skips it if this app id has
        already committed this version."""
        conf = self.spark.conf
        for attempt in range(1, CONFLICT_RETRIES + 1):
            conf.set("spark.databricks.delta.write.txnAppId", self.app_id)
            conf.set("spark.databricks.delta.write.txnVersion", str(self.version))
            try:
                t0 = time.monotonic()
                self.spark.sql(statement)
                what = " ".join(statement.split()[:3])
                log.info("%s v%s %s: %.2f s", self.app_id[:28], self.version, what, time.monotonic() - t0)
                return
            except Exception as e:  # noqa: BLE001 - only Delta's optimistic-concurrency conflicts are retried
                if not _is_conflict(e) or attempt == CONFLICT_RETRIES:
                    raise
                log.warning("write conflict (%s), retrying %d/%d", str(e)[:200], attempt, CONFLICT_RETRIES)
                time.sleep(0.5 * attempt)
            finally:
                conf.unset("spark.databricks.delta.write.txnAppId")
                conf.unset("spark.databricks.delta.write.txnVersion")


def _query_app_id(spark, checkpoint: str, name: str) -> str:
    """``name`` + the query id kept in the checkpoint's ``metadata`` file: stable across restarts,
    new when the checkpoint is reset (batch ids restart at 0 then, and must not be skipped)."""
    row = spark.read.text(f"{checkpoint}/metadata").first()
    return f"{name}-{json.loads(row[0])['id']}"


def _ts_literal(ts: datetime | None) -> str:
    if ts is None:
        return "TIMESTAMP '1970-01-01 00:00:00'"
    return f"TIMESTAMP '{ts.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


# ----------------------------------------------------------------------------- silver
def previous_watermark(spark, s: Settings, batch_id: int):
    """(max_client_ts, watermark) recorded by the last batch before ``batch_id``; (None, None) at first."""
    from pyspark.sql import functions as F

    rows = (spark.read.format("delta").load(T.WATERMARKS.location(s))
            .where(F.col("batch_id") < batch_id).orderBy(F.col("batch_id").desc()).limit(1).collect())
    return (rows[0]["max_client_ts"], rows[0]["watermark"]) if rows else (None, None)


def silver_batch(spark, s: Settings, cfg: StreamConfig, app_id: str, df, batch_id: int) -> dict:
    """One micro-batch of Kafka records → bronze, quarantine, silver, watermark. Returns counts."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from vodflow.analytics.validate_spark import parse_and_check

    spark = df.sparkSession  # the query's own session: its conf and temp views are not shared
    txn = Txn(spark, app_id, batch_id)
    raw = df.select(F.col("key").cast("string").alias("key"), F.col("value").cast("string").alias("value"),
                    "topic", "partition", "offset", F.col("timestamp").alias("kafka_ts"))
    raw = raw.persist()
    cached = [raw]
    try:
        n = raw.count()
        if n == 0:
            return {"rows": 0}
        txn.append(raw.withColumn("ingest_date", F.to_date("kafka_ts")), T.BRONZE, s)

        max_seen, wm = previous_watermark(spark, s, batch_id)
        checked = parse_and_check(raw)
        is_late = F.col("kind").isNull() & F.lit(wm is not None) & (F.col("e.client_ts") < F.lit(wm))
        late_reason = F.concat(
            F.lit("late: client_ts "), F.date_format("e.client_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSX"),
            F.lit(f" is older than the watermark {wm.isoformat() if wm else ''} "
                  f"(newest client_ts seen minus {cfg.lateness}); not counted"))
        checked = (checked.withColumn("_late", is_late)
                   .withColumn("reasons", F.when(F.col("_late"), F.array(late_reason)).otherwise(F.col("reasons")))
                   .withColumn("kind", F.when(F.col("_late"), F.lit("late")).otherwise(F.col("kind")))).persist()
        cached.append(checked)
        quarantined = checked.where(F.col("kind").isNotNull()).select(
            "kind", F.array_join("reasons", "; ").alias("reason"),
            F.coalesce(F.col("e.event_id"), F.get_json_object("value", "$.event_id")).alias("event_id"),
            "value", "topic", "partition", "offset", "kafka_ts", F.lit(batch_id).cast("bigint").alias("batch_id"),
            F.to_date("kafka_ts").alias("quarantine_date"))
        txn.append(quarantined, T.QUARANTINE, s)

        good = checked.where(F.col("kind").isNull())
        first = Window.partitionBy("e.event_id").orderBy("partition", "offset")
        events = (good.withColumn("_n", F.row_number().over(first)).where("_n = 1")
                  .select("e.*", F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"))
                  .withColumn("event_date", F.to_date("client_ts")))
        events.createOrReplaceTempView("_silver_batch")
        wm_lit = _ts_literal(wm)
        txn.sql(f"""
            MERGE INTO delta.`{T.SILVER.location(s)}` t
            USING _silver_batch b
            ON t.event_id = b.event_id AND t.event_date >= to_date({wm_lit}) AND t.client_ts >= {wm_lit}
            WHEN NOT MATCHED THEN INSERT *""")

        batch_max = good.agg(F.max("e.client_ts")).first()[0]
        new_max = max([t for t in (max_seen, batch_max) if t is not None], default=None)
        wm_row = spark.sql(f"""SELECT CAST({batch_id} AS BIGINT) AS batch_id, {_ts_literal(new_max)} AS max_client_ts,
                               {_ts_literal(new_max)} - INTERVAL {cfg.lateness} AS watermark,
                               CAST({n} AS BIGINT) AS rows, current_timestamp() AS committed_at""")
        txn.append(wm_row, T.WATERMARKS, s)
        counts = {"rows": n}
        log.info("silver batch %s: %s", batch_id, counts)
        return counts
    finally:
        for d in cached:
            d.unpersist()


# ----------------------------------------------------------------------------- gold
def _session_partials(spark):
    """New silver rows (view ``_gold_batch``) → one partial aggregate per session (view ``_sess_partial``)."""
    spark.sql("""
        CREATE OR REPLACE TEMP VIEW _sess_partial AS
        SELECT session_id,
               min_by(user_id, client_ts) AS user_id, min_by(video_id, client_ts) AS video_id,
               min_by(device, client_ts) AS device, min_by(country, client_ts) AS country,
               min(client_ts) AS started_at, max(client_ts) AS last_event_at,
               max_by(position_s, struct(client_ts, kafka_partition, kafka_offset)) AS last_position_s,
               max(greatest(position_s, coalesce(to_position_s, 0))) AS max_position_s,
               max(duration_s) AS duration_s,
               coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), 0D) AS played_s,
               count(*) AS events,
               max(type = 'video_completed') AS completed,
               min_by(startup_ms, CASE WHEN type = 'startup' THEN client_ts END) AS startup_ms,
               count_if(type = 'rebuffer_end') AS rebuffers,
               coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS rebuffer_ms,
               count_if(type = 'video_seek') AS seeks,
               count_if(type = 'bitrate_switch') AS switches
        FROM _gold_batch GROUP BY session_id""")


def _title_metrics_sql() -> str:
    b = T.DROPOFF_BUCKETS
    bucket = (f"CASE WHEN NOT completed AND duration_s > 0 THEN "
              f"least({b - 1}, CAST(floor(least(1D, last_position_s / duration_s) * {b}) AS INT)) END")
    dropoff = ", ".join(f"count_if(({bucket}) = {i})" for i in range(b))
    return f"""
        count(*) AS views, count(DISTINCT user_id) AS unique_viewers,
        sum(played_s) AS watch_time_s, count_if(completed) AS completions,
        count_if(completed) / count(*) AS completion_rate,
        avg(CASE WHEN duration_s > 0 THEN least(1D, played_s / duration_s) END) AS avg_share_watched,
        array({dropoff}) AS dropoff,
        current_timestamp() AS updated_at"""


def _recompute_title(txn: Txn, s: Settings, table: T.Table, key: str, key_expr: str) -> None:
    """Recompute the rows of ``table`` for the (video_id, key) pairs touched by this batch, from sessions."""
    empty = "CAST(0 AS BIGINT)"
    txn.sql(f"""
        MERGE INTO delta.`{table.location(s)}` t
        USING (
            WITH keys AS (
                SELECT DISTINCT video_id, {key_expr.format(col='started_at')} AS {key} FROM _touched
                UNION SELECT DISTINCT video_id, {key_expr.format(col='prev_started_at')} FROM _touched
                      WHERE prev_started_at IS NOT NULL),
            agg AS (
                SELECT s.video_id, {key_expr.format(col='s.started_at')} AS {key}, {_title_metrics_sql()}
                FROM delta.`{T.SESSIONS.location(s)}` s
                JOIN keys k ON s.video_id = k.video_id AND {key_expr.format(col='s.started_at')} = k.{key}
                GROUP BY s.video_id, {key_expr.format(col='s.started_at')})
            SELECT k.video_id, k.{key}, coalesce(a.views, {empty}) AS views,
                   a.unique_viewers, a.watch_time_s, a.completions, a.completion_rate, a.avg_share_watched,
                   a.dropoff, a.updated_at
            FROM keys k LEFT JOIN agg a ON k.video_id = a.video_id AND k.{key} = a.{key}
        ) u
        ON t.video_id = u.video_id AND t.{key} = u.{key}
        WHEN MATCHED AND u.views = 0 THEN DELETE
        WHEN MATCHED THEN UPDATE SET *
        WHEN NOT MATCHED AND u.views > 0 THEN INSERT *""")


def gold_batch(spark, s: Settings, app_id: str, df, batch_id: int) -> dict:
    """One micro-batch of new silver rows → sessions, title_hourly, title_daily, user_title,
    playback_quality, gold_progress."""
    from pyspark.sql import functions as F

    spark = df.sparkSession  # the query's own session: its conf and temp views are not shared
    txn = Txn(spark, app_id, batch_id)
    df = df.persist()
    try:
        n = df.count()
        if n == 0:
            return {"events": 0}
        df.createOrReplaceTempView("_gold_batch")
        _session_partials(spark)
        sess = T.SESSIONS.location(s)
        txn.sql(f"""
            MERGE INTO delta.`{sess}` t USING _sess_partial p ON t.session_id = p.session_id
            WHEN MATCHED THEN UPDATE SET
                prev_started_at = t.started_at,
                started_at = least(t.started_at, p.started_at),
                last_position_s = CASE WHEN p.last_event_at >= t.last_event_at THEN p.last_position_s
                                       ELSE t.last_position_s END,
                last_event_at = greatest(t.last_event_at, p.last_event_at),
                max_position_s = greatest(t.max_position_s, p.max_position_s),
                duration_s = coalesce(greatest(t.duration_s, p.duration_s), t.duration_s, p.duration_s),
                played_s = t.played_s + p.played_s,
                events = t.events + p.events,
                completed = t.completed OR p.completed,
                startup_ms = CASE WHEN p.started_at < t.started_at THEN coalesce(p.startup_ms, t.startup_ms)
                                  ELSE coalesce(t.startup_ms, p.startup_ms) END,
                user_id = CASE WHEN p.started_at < t.started_at THEN p.user_id ELSE t.user_id END,
                video_id = CASE WHEN p.started_at < t.started_at THEN p.video_id ELSE t.video_id END,
                device = CASE WHEN p.started_at < t.started_at THEN p.device ELSE t.device END,
                country = CASE WHEN p.started_at < t.started_at THEN p.country ELSE t.country END,
                rebuffers = t.rebuffers + p.rebuffers,
                rebuffer_ms = t.rebuffer_ms + p.rebuffer_ms,
                seeks = t.seeks + p.seeks,
                switches = t.switches + p.switches
            WHEN NOT MATCHED THEN INSERT (session_id, user_id, video_id, device, country, started_at,
                prev_started_at, last_event_at, last_position_s, max_position_s, duration_s, played_s, events,
                completed, startup_ms, rebuffers, rebuffer_ms, seeks, switches)
            VALUES (p.session_id, p.user_id, p.video_id, p.device, p.country, p.started_at, NULL,
                p.last_event_at, p.last_position_s, p.max_position_s, p.duration_s, p.played_s, p.events,
                p.completed, p.startup_ms, p.rebuffers, p.rebuffer_ms, p.seeks, p.switches)""")

        # The sessions as they are now (after this batch), incl. where late events moved them from.
        touched = (spark.read.format("delta").load(sess)
                   .join(spark.table("_sess_partial").select("session_id"), "session_id", "left_semi")).persist()
        touched.createOrReplaceTempView("_touched")
        try:
            _recompute_title(txn, s, T.TITLE_HOURLY, "hour", "date_trunc('HOUR', {col})")
            _recompute_title(txn, s, T.TITLE_DAILY, "date", "to_date({col})")
            txn.sql(f"""
                MERGE INTO delta.`{T.USER_TITLE.location(s)}` t
                USING (
                    SELECT s.user_id, s.video_id, count(*) AS sessions, sum(s.played_s) AS watch_time_s,
                           least(1D, sum(s.played_s) / max(s.duration_s)) AS watch_fraction,
                           max(s.completed) AS completed, max(s.last_event_at) AS last_watched
                    FROM delta.`{sess}` s
                    JOIN (SELECT DISTINCT user_id, video_id FROM _touched) k
                      ON s.user_id = k.user_id AND s.video_id = k.video_id
                    GROUP BY s.user_id, s.video_id) u
                ON t.user_id = u.user_id AND t.video_id = u.video_id
                WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")
        finally:
            touched.unpersist()

        _update_quality(spark, txn, s)
        done = datetime.now(timezone.utc)
        lag = df.select((F.lit(done).cast("double") - F.col("server_ts").cast("double")).alias("lag")).persist()
        try:
            q = lag.agg(F.percentile_approx("lag", [0.5, 0.99], 10000).alias("p"), F.max("lag").alias("mx")).first()
            hist = [0] * (T.FRESHNESS_HIST_S + 1)
            for r in lag.groupBy(F.least(F.lit(T.FRESHNESS_HIST_S),
                                         F.greatest(F.lit(0), F.floor("lag").cast("int"))).alias("b")).count().collect():
                hist[r["b"]] += r["count"]
        finally:
            lag.unpersist()
        progress = spark.createDataFrame(
            [(batch_id, n, df.agg(F.max("server_ts")).first()[0], float(q["p"][0]), float(q["p"][1]),
              float(q["mx"]), hist, done)], GOLD_PROGRESS.ddl())
        txn.append(progress, GOLD_PROGRESS, s)
        counts = {"events": n, "freshness_p99_s": round(float(q["p"][1]), 1)}
        log.info("gold batch %s: %s", batch_id, counts)
        return counts
    finally:
        df.unpersist()


def _update_quality(spark, txn: Txn, s: Settings) -> None:
    """playback_quality: played seconds and stalls are added from the batch; startup percentiles are
    recomputed (exact) from silver's startup partition for the dates the batch touched."""
    silver = T.SILVER.location(s)
    txn.sql(f"""
        MERGE INTO delta.`{T.PLAYBACK_QUALITY.location(s)}` t
        USING (
            WITH add AS (
                SELECT to_date(client_ts) AS date, rung, device,
                       coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), 0D) AS played_s,
                       count_if(type = 'rebuffer_end') AS rebuffers,
                       coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS rebuffer_ms
                FROM _gold_batch GROUP BY 1, 2, 3),
            dates AS (SELECT DISTINCT date FROM add),
            st AS (
                SELECT e.event_date AS date, e.rung, e.device, count(*) AS startups,
                       percentile(e.startup_ms, 0.5) AS p50, percentile(e.startup_ms, 0.95) AS p95
                FROM delta.`{silver}` e JOIN dates d ON e.event_date = d.date
                WHERE e.type = 'startup' GROUP BY 1, 2, 3)
            SELECT coalesce(a.date, st.date) AS date, coalesce(a.rung, st.rung) AS rung,
                   coalesce(a.device, st.device) AS device, coalesce(st.startups, 0) AS startups,
                   st.p50, st.p95, coalesce(a.played_s, 0D) AS played_s, coalesce(a.rebuffers, 0) AS rebuffers,
                   coalesce(a.rebuffer_ms, 0) AS rebuffer_ms
            FROM add a FULL OUTER JOIN st ON a.date = st.date AND a.rung = st.rung AND a.device = st.device
        ) u
        ON t.date = u.date AND t.rung = u.rung AND t.device = u.device
        WHEN MATCHED THEN UPDATE SET
            startups = u.startups, startup_ms_p50 = u.p50, startup_ms_p95 = u.p95,
            played_s = t.played_s + u.played_s, rebuffers = t.rebuffers + u.rebuffers,
            rebuffer_ms = t.rebuffer_ms + u.rebuffer_ms,
            rebuffer_ratio = (t.rebuffer_ms + u.rebuffer_ms)
                / nullif((t.rebuffer_ms + u.rebuffer_ms) + 1000D * (t.played_s + u.played_s), 0),
            updated_at = current_timestamp()
        WHEN NOT MATCHED THEN INSERT (date, rung, device, startups, startup_ms_p50, startup_ms_p95, played_s,
            rebuffers, rebuffer_ms, rebuffer_ratio, updated_at)
        VALUES (u.date, u.rung, u.device, u.startups, u.p50, u.p95, u.played_s, u.rebuffers, u.rebuffer_ms,
            u.rebuffer_ms / nullif(u.rebuffer_ms + 1000D * u.played_s, 0), current_timestamp())""")


# ----------------------------------------------------------------------------- queries
def _foreach(spark, s: Settings, checkpoint: str, name: str, fn):
    state: dict[str, str] = {}

    def run(df, batch_id: int) -> None:
        if "app_id" not in state:
            state["app_id"] = _query_app_id(spark, checkpoint, name)
        fn(state["app_id"], df, batch_id)

    return run


def start_silver(spark, s: Settings, cfg: StreamConfig, available_now: bool):
    ckpt = f"{cfg.checkpoints}/silver"
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", cfg.bootstrap)
              .option("subscribe", cfg.topic).option("startingOffsets", "earliest"))
    if cfg.max_offsets:
        reader = reader.option("maxOffsetsPerTrigger", cfg.max_offsets)
    fn = _foreach(spark, s, ckpt, SILVER_QUERY,
                  lambda app, df, b: silver_batch(spark, s, cfg, app, df, b))
    w = reader.load().writeStream.queryName(SILVER_QUERY).option("checkpointLocation", ckpt).foreachBatch(fn)
    w = w.trigger(availableNow=True) if available_now else w.trigger(processingTime=cfg.trigger)
    return w.start()


def start_gold(spark, s: Settings, cfg: StreamConfig, available_now: bool):
    ckpt = f"{cfg.checkpoints}/gold"
    fn = _foreach(spark, s, ckpt, GOLD_QUERY, lambda app, df, b: gold_batch(spark, s, app, df, b))
    src = spark.readStream.format("delta").load(T.SILVER.location(s))
    w = src.writeStream.queryName(GOLD_QUERY).option("checkpointLocation", ckpt).foreachBatch(fn)
    w = w.trigger(availableNow=True) if available_now else w.trigger(processingTime=cfg.trigger)
    return w.start()


def prepare(spark, s: Settings) -> None:
    """Create missing tables and register them as ``vodflow.<table>``."""
    T.ensure(spark, s)
    T.register(spark, s)


def run_available_now(spark, s: Settings | None = None, cfg: StreamConfig | None = None) -> None:
    """Catch up: everything on the topic now → silver, then silver → gold; returns when both are done."""
    s = s or get_settings()
    cfg = cfg or StreamConfig.from_settings(s)
    prepare(spark, s)
    for start in (start_silver, start_gold):
        q = start(spark, s, cfg, available_now=True)
        q.awaitTermination()
        if q.exception():
            raise RuntimeError(f"{q.name} failed: {q.exception()}")


def run_continuous(spark, s: Settings | None = None, cfg: StreamConfig | None = None,
                   heartbeat=None, stop_event=None) -> None:
    """Both queries until one fails or ``stop_event`` is set (then they stop gracefully)."""
    s = s or get_settings()
    cfg = cfg or StreamConfig.from_settings(s)
    prepare(spark, s)
    queries = [start_silver(spark, s, cfg, False), start_gold(spark, s, cfg, False)]
    try:
        while True:
            for q in queries:
                if not q.isActive:
                    raise RuntimeError(f"{q.name} stopped: {q.exception()}")
            if heartbeat:
                heartbeat(queries)
            if stop_event is not None and stop_event.wait(2):
                break
            if stop_event is None:
                time.sleep(2)
    finally:
        for q in queries:
            try:
                q.stop()
            except Exception:  # noqa: BLE001 - stopping is best effort
                pass
