"""The second half of a stream micro-batch: the batch's new silver events → the gold tables.

The new events (global view ``vodflow_gold_batch``) are folded into ``sessions`` with an additive ``MERGE`` (one
partial aggregate per session), then exactly the ``title_hourly``, ``title_daily`` and ``user_title``
rows those sessions touch are *recomputed* from ``sessions`` (so they are right however often a batch
runs), and ``playback_quality`` gets the batch's played and stall time added and its startup
percentiles recomputed (exact) from silver's ``startup`` partitions of the dates the batch touched -
named as literals, so Delta prunes to those partitions and the work follows the batch, not the table.
Every write goes through :class:`vodflow.analytics.txn.Txn` (exactly once per batch). The batch's
intermediate results are *global* temporary views (``global_temp.vodflow_*``), so the four
recomputations, which touch different tables, can run at the same time from their own Spark sessions
(each session has its own idempotent-write settings).
"""

from __future__ import annotations

from vodflow.analytics import tables as T
from vodflow.analytics.stream_silver import ts_literal
from vodflow.analytics.txn import Txn
from vodflow.settings import Settings


def session_partials(spark):
    """New silver rows (global view ``vodflow_gold_batch``) → one partial aggregate per session (global view ``vodflow_sess_partial``)."""
    spark.sql("""
        CREATE OR REPLACE GLOBAL TEMP VIEW vodflow_sess_partial AS
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
        FROM global_temp.vodflow_gold_batch GROUP BY session_id""")


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


def _recompute_title(txn: Txn, s: Settings, table: T.Table, key: str, key_expr: str, span) -> None:
    """Recompute the rows of ``table`` for the (video_id, key) pairs touched by this batch, from sessions.
    ``span``: (first, last) start time of the touched sessions (before and after the batch): sessions is
    only read between the first key's start and the last key's end - literal bounds, so Delta skips the
    files of other times by their ``started_at`` statistics."""
    empty = "CAST(0 AS BIGINT)"
    lo, hi = (ts_literal(t) for t in span)
    start, end = (f"date_trunc('HOUR', {lo})", f"date_trunc('HOUR', {hi}) + INTERVAL 1 HOUR") if key == "hour" else \
                 (f"CAST(to_date({lo}) AS TIMESTAMP)", f"CAST(date_add(to_date({hi}), 1) AS TIMESTAMP)")
    txn.sql(f"""
        MERGE INTO delta.`{table.location(s)}` t
        USING (
            WITH keys AS (
                SELECT DISTINCT video_id, {key_expr.format(col='started_at')} AS {key} FROM global_temp.vodflow_touched
                UNION SELECT DISTINCT video_id, {key_expr.format(col='prev_started_at')} FROM global_temp.vodflow_touched
                      WHERE prev_started_at IS NOT NULL),
            agg AS (
                SELECT /*+ BROADCAST(k) */ s.video_id, {key_expr.format(col='s.started_at')} AS {key},
                       {_title_metrics_sql()}
                FROM delta.`{T.SESSIONS.location(s)}` s
                JOIN keys k ON s.video_id = k.video_id AND {key_expr.format(col='s.started_at')} = k.{key}
                WHERE s.started_at >= {start} AND s.started_at < {end}
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


def merge_sessions(txn: Txn, s: Settings) -> None:
    """``vodflow_sess_partial`` (this batch's per-session partials) → ``sessions``, additively."""
    sess = T.SESSIONS.location(s)
    txn.sql(f"""
        MERGE INTO delta.`{sess}` t USING global_temp.vodflow_sess_partial p ON t.session_id = p.session_id
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


def touched_sessions(spark, s: Settings):
    """The sessions of this batch as they are now (after the merge), incl. ``prev_started_at``: the
    hour a late event moved a session out of. Registered as ``global_temp.vodflow_touched`` (the caller
    unpersists it) and materialised here, once; returns (DataFrame, (first, last) start time)."""
    from pyspark.sql import functions as F

    touched = (spark.read.format("delta").load(T.SESSIONS.location(s))
               .join(spark.table("global_temp.vodflow_sess_partial").select("session_id"), "session_id", "left_semi")
               ).persist()
    touched.createOrReplaceGlobalTempView("vodflow_touched")
    prev = F.coalesce("prev_started_at", "started_at")
    b = touched.agg(F.min(F.least("started_at", prev)).alias("lo"), F.max(F.greatest("started_at", prev)).alias("hi")
                    ).first()
    return touched, (b["lo"], b["hi"])


def recompute_title_hourly(txn: Txn, s: Settings, span) -> None:
    _recompute_title(txn, s, T.TITLE_HOURLY, "hour", "date_trunc('HOUR', {col})", span)


def recompute_title_daily(txn: Txn, s: Settings, span) -> None:
    _recompute_title(txn, s, T.TITLE_DAILY, "date", "to_date({col})", span)


def recompute_user_title(txn: Txn, s: Settings) -> None:
    sess = T.SESSIONS.location(s)
    txn.sql(f"""
        MERGE INTO delta.`{T.USER_TITLE.location(s)}` t
        USING (
            SELECT /*+ BROADCAST(k) */ s.user_id, s.video_id, count(*) AS sessions, sum(s.played_s) AS watch_time_s,
                   least(1D, sum(s.played_s) / max(s.duration_s)) AS watch_fraction,
                   max(s.completed) AS completed, max(s.last_event_at) AS last_watched
            FROM delta.`{sess}` s
            JOIN (SELECT DISTINCT user_id, video_id FROM global_temp.vodflow_touched) k
              ON s.user_id = k.user_id AND s.video_id = k.video_id
            GROUP BY s.user_id, s.video_id) u
        ON t.user_id = u.user_id AND t.video_id = u.video_id
        WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")


def update_quality(txn: Txn, s: Settings, dates) -> None:
    """playback_quality: played seconds and stalls are added from the batch; startup percentiles are
    recomputed (exact) from silver's startup partitions of ``dates`` (the event dates of the batch)."""
    silver = T.SILVER.location(s)
    in_dates = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(dates)) or "NULL"
    txn.sql(f"""
        MERGE INTO delta.`{T.PLAYBACK_QUALITY.location(s)}` t
        USING (
            WITH add AS (
                SELECT to_date(client_ts) AS date, rung, device,
                       coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), 0D) AS played_s,
                       count_if(type = 'rebuffer_end') AS rebuffers,
                       coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS rebuffer_ms
                FROM global_temp.vodflow_gold_batch GROUP BY 1, 2, 3),
            st AS (
                SELECT e.event_date AS date, e.rung, e.device, count(*) AS startups,
                       percentile(e.startup_ms, 0.5) AS p50, percentile(e.startup_ms, 0.95) AS p95
                FROM delta.`{silver}` e
                WHERE e.event_date IN ({in_dates}) AND e.type = 'startup' GROUP BY 1, 2, 3)
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
