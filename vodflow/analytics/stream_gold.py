"""The second half of a stream micro-batch: the batch's new silver events → the gold tables.

Spark does the per-event work once, in the same pass as silver: the batch's new events are reduced to
one partial aggregate per session, one "to add" row per (date, rung, device) and a count of events per
decisecond of ``server_ts`` (for freshness) - three small Arrow tables collected to the driver
(:func:`collect`). Everything after that is keyed work on small tables and runs without Spark jobs
(:func:`write_gold`): delta-rs MERGEs the partials into ``sessions`` (additively), reads back the
sessions it touched, and the four derived tables are recomputed for exactly the keys those sessions
touch (:mod:`gold_rows`, DuckDB on Arrow) and MERGEd by delta-rs, the four at the same time.

Why not Spark MERGEs (the design before): each one is a snapshot, a source materialisation, a scan and a
rewrite - 8-15 Spark jobs per table and ~60 jobs per batch, which made a batch of 8 events cost 16-20 s
on this machine (bench/stream_jobs.py; docs/benchmarks-analytics.md). The keyed work is small by
construction (bounded by the sessions and periods the batch touched), so it belongs in-process; the
per-event work stays in Spark and scales with the cluster.

Every write goes through :func:`vodflow.analytics.lake_rs.write` with the batch's ``txn`` (app id +
batch id): a batch replayed after a crash skips the tables that already committed it and redoes the
others on the same input. ``sessions`` is merged first; a replay after it committed reads the same
touched rows back (``prev_started_at`` included), so the derived tables get the same rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from vodflow.analytics import gold_rows as R
from vodflow.analytics import lake_rs
from vodflow.analytics import tables as T
from vodflow.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

# The batch's reductions, in SQL that Spark (a big batch, :func:`collect`) and DuckDB (a small one, on the
# Arrow the driver already holds, :func:`collect_local`) both run; ``{min_by}``, ``{max_by}``, ``{order}``
# and ``{epoch_s}`` are the few words the dialects spell differently (:data:`SPARK_SQL`, :data:`DUCKDB_SQL`).
_PARTIALS = """
    SELECT session_id,
           {min_by}(user_id, client_ts) AS user_id, {min_by}(video_id, client_ts) AS video_id,
           {min_by}(device, client_ts) AS device, {min_by}(country, client_ts) AS country,
           min(client_ts) AS started_at, max(client_ts) AS last_event_at,
           {max_by}(position_s, {order}) AS last_position_s,
           max(greatest(position_s, coalesce(to_position_s, 0))) AS max_position_s,
           max(duration_s) AS duration_s,
           coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), CAST(0 AS DOUBLE)) AS played_s,
           CAST(count(*) AS BIGINT) AS events,
           max(type = 'video_completed') AS completed,
           {min_by}(startup_ms, CASE WHEN type = 'startup' THEN client_ts END) AS startup_ms,
           CAST(count_if(type = 'rebuffer_end') AS BIGINT) AS rebuffers,
           CAST(coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS BIGINT) AS rebuffer_ms,
           CAST(count_if(type = 'video_seek') AS BIGINT) AS seeks,
           CAST(count_if(type = 'bitrate_switch') AS BIGINT) AS switches
    FROM {batch} GROUP BY session_id"""

_ADDS = """
    SELECT event_date AS date, rung, device,
           coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), CAST(0 AS DOUBLE)) AS played_s,
           CAST(count_if(type = 'rebuffer_end') AS BIGINT) AS rebuffers,
           CAST(coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS BIGINT) AS rebuffer_ms
    FROM {batch} GROUP BY 1, 2, 3"""

_SERVER_DS = """SELECT CAST(floor({epoch_s} * 10) AS BIGINT) AS ds, CAST(count(*) AS BIGINT) AS n,
                       min(server_ts) AS min_ts, max(server_ts) AS max_ts
                FROM {batch} GROUP BY 1"""

SPARK_SQL = {"min_by": "min_by", "max_by": "max_by", "order": "struct(client_ts, kafka_partition, kafka_offset)",
             "epoch_s": "CAST(server_ts AS DOUBLE)"}
# arg_min_null/arg_max_null: the value at the extreme row even when it is NULL, as Spark's min_by/max_by
DUCKDB_SQL = {"min_by": "arg_min_null", "max_by": "arg_max_null",
              "order": "row(client_ts, kafka_partition, kafka_offset)", "epoch_s": "(epoch_us(server_ts) / 1e6)"}
REDUCTIONS = (("partials", _PARTIALS), ("adds", _ADDS), ("server_ds", _SERVER_DS))

#: sessions MERGE: a partial ``p`` folded into the stored row ``t`` (every right-hand side sees ``t`` as it was)
_SESSION_UPDATE = {
    "prev_started_at": "t.started_at",
    "started_at": "least(t.started_at, p.started_at)",
    "last_position_s": "CASE WHEN p.last_event_at >= t.last_event_at THEN p.last_position_s "
                       "ELSE t.last_position_s END",
    "last_event_at": "greatest(t.last_event_at, p.last_event_at)",
    "max_position_s": "greatest(t.max_position_s, p.max_position_s)",
    "duration_s": "coalesce(greatest(t.duration_s, p.duration_s), t.duration_s, p.duration_s)",
    "played_s": "t.played_s + p.played_s",
    "events": "t.events + p.events",
    "completed": "t.completed OR p.completed",
    "startup_ms": "CASE WHEN p.started_at < t.started_at THEN coalesce(p.startup_ms, t.startup_ms) "
                  "ELSE coalesce(t.startup_ms, p.startup_ms) END",
    **{c: f"CASE WHEN p.started_at < t.started_at THEN p.{c} ELSE t.{c} END"
       for c in ("user_id", "video_id", "device", "country")},
    **{c: f"t.{c} + p.{c}" for c in ("rebuffers", "rebuffer_ms", "seeks", "switches")},
}

_QUALITY_UPDATE = {
    "startups": "u.startups", "startup_ms_p50": "u.p50", "startup_ms_p95": "u.p95",
    "played_s": "t.played_s + u.played_s", "rebuffers": "t.rebuffers + u.rebuffers",
    "rebuffer_ms": "t.rebuffer_ms + u.rebuffer_ms",
    "rebuffer_ratio": "(t.rebuffer_ms + u.rebuffer_ms) / nullif((t.rebuffer_ms + u.rebuffer_ms) "
                      "+ 1000.0 * (t.played_s + u.played_s), 0)",
    "updated_at": "u.updated_at",
}
_QUALITY_INSERT = {
    "date": "u.date", "rung": "u.rung", "device": "u.device", "startups": "u.startups",
    "startup_ms_p50": "u.p50", "startup_ms_p95": "u.p95", "played_s": "u.played_s", "rebuffers": "u.rebuffers",
    "rebuffer_ms": "u.rebuffer_ms",
    "rebuffer_ratio": "u.rebuffer_ms / nullif(u.rebuffer_ms + 1000.0 * u.played_s, 0)",
    "updated_at": "u.updated_at",
}


@dataclass
class BatchGold:
    """What Spark hands the gold half of a batch (all small: per session, per quality key, per 0.1 s)."""
    partials: "pa.Table"    # one row per session of the batch (_PARTIALS)
    adds: "pa.Table"        # per (date, rung, device): played_s, rebuffers, rebuffer_ms of the batch
    server_ds: "pa.Table"   # events per decisecond of server_ts (freshness), with its min and max server_ts

    @property
    def dates(self) -> list:
        """Event dates of the batch (the startup percentiles to recompute)."""
        return sorted(set(self.adds.column("date").to_pylist()))

    @property
    def events(self) -> int:
        import pyarrow.compute as pc

        return int(pc.sum(self.server_ds.column("n")).as_py() or 0)

    @property
    def min_server_ts(self) -> datetime:
        import pyarrow.compute as pc

        return pc.min(self.server_ds.column("min_ts")).as_py()

    @property
    def max_server_ts(self) -> datetime:
        import pyarrow.compute as pc

        return pc.max(self.server_ds.column("max_ts")).as_py()


def collect(spark, new) -> BatchGold:
    """The batch's new silver events (a DataFrame) → :class:`BatchGold`: three small Spark jobs, submitted
    at the same time (each is mostly scheduling and a shuffle of a few rows; one after the other they
    left the cores idle between stages). They carry the caller's Spark job description."""
    new.createOrReplaceTempView("vodflow_gold_batch")
    sc = spark.sparkContext
    desc = sc.getLocalProperty("spark.job.description")

    def run(sql: str) -> "pa.Table":
        sc.setJobDescription(desc)
        try:
            return spark.sql(sql.format(batch="vodflow_gold_batch", **SPARK_SQL)).toArrow()
        finally:
            sc.setJobDescription(None)

    with ThreadPoolExecutor(len(REDUCTIONS), thread_name_prefix="vodflow-collect") as ex:
        futures = {k: ex.submit(run, sql) for k, sql in REDUCTIONS}
        return BatchGold(**{k: f.result() for k, f in futures.items()})


def collect_local(new: "pa.Table") -> BatchGold:
    """:func:`collect` for a small batch whose new events the driver holds as Arrow (collected once for
    its delta-rs silver append): the same reductions by DuckDB, no Spark job."""
    with R.connection() as con:
        con.register("vodflow_gold_batch", new)
        return BatchGold(**{k: con.sql(sql.format(batch="vodflow_gold_batch", **DUCKDB_SQL)).to_arrow_table()
                            for k, sql in REDUCTIONS})


def write_gold(s: Settings, app_id: str, batch_id: int, gold: BatchGold, pool: ThreadPoolExecutor,
               timed: Callable, silver_committed: Callable[[], object] = lambda: None) -> None:
    """:class:`BatchGold` → sessions, then title_hourly, title_daily, user_title and playback_quality at
    once. ``timed(step, fn, *args)`` runs a step and records its time; ``silver_committed()`` returns
    once the batch's silver append committed (playback_quality reads the batch's startups from silver)."""
    txn = {"app_id": app_id, "version": batch_id}
    timed("sessions", merge_sessions, s, gold.partials, txn)
    # one snapshot of sessions after the merge, read by every step below
    sessions = lake_rs.open_table(T.SESSIONS, s).to_pyarrow_dataset()
    touched = timed("touched", read_touched, sessions, gold.partials)
    now = datetime.now().astimezone()
    jobs = [pool.submit(timed, T.TITLE_HOURLY.name, recompute_titles, s, T.TITLE_HOURLY, sessions, touched, now, txn),
            pool.submit(timed, T.TITLE_DAILY.name, recompute_titles, s, T.TITLE_DAILY, sessions, touched, now, txn),
            pool.submit(timed, T.USER_TITLE.name, recompute_user_title, s, sessions, touched, txn),
            pool.submit(_after, silver_committed, timed, T.PLAYBACK_QUALITY.name, update_quality, s, gold.adds,
                        gold.dates, now, txn)]
    for j in jobs:
        j.result()


def _after(first: Callable[[], object], fn: Callable, *a):
    first()
    return fn(*a)


def merge_sessions(s: Settings, partials: "pa.Table", txn: dict) -> None:
    src = lake_rs.conform(partials.append_column(
        "prev_started_at", _nulls(partials, "started_at")), T.SESSIONS)

    def go(dt, props):
        (dt.merge(src, predicate="t.session_id = p.session_id", source_alias="p", target_alias="t",
                  commit_properties=props)
           .when_matched_update(updates=_SESSION_UPDATE).when_not_matched_insert_all().execute())

    lake_rs.write(T.SESSIONS, s, go, **txn)


def read_touched(sessions, partials: "pa.Table") -> "pa.Table":
    """The stored rows (``sessions``: the table after the merge, a PyArrow dataset) of the batch's sessions."""
    import pyarrow.dataset as ds

    return sessions.to_table(filter=ds.field("session_id").isin(partials.column("session_id")))


def recompute_titles(s: Settings, table: T.Table, sessions, touched: "pa.Table", now, txn: dict) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    keys = R.period_keys(touched, table.name)
    start, end = R.periods_between(table.name, *_span(touched))
    sess = sessions.to_table(
        columns=["video_id", "user_id", "started_at", "played_s", "duration_s", "completed", "last_position_s"],
        filter=(ds.field("started_at") >= start) & (ds.field("started_at") < end)
        & ds.field("video_id").isin(pc.unique(keys.column("video_id"))))
    rows = lake_rs.conform(R.title_rows(keys, sess, table.name, now), table)
    key = R.PERIODS[table.name][0]

    def go(dt, props):
        (dt.merge(rows, predicate=f"t.video_id = u.video_id AND t.{key} = u.{key}", source_alias="u",
                  target_alias="t", commit_properties=props)
           .when_matched_delete(predicate="u.views = 0").when_matched_update_all()
           .when_not_matched_insert_all(predicate="u.views > 0").execute())

    lake_rs.write(table, s, go, **txn)


def recompute_user_title(s: Settings, sessions, touched: "pa.Table", txn: dict) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    sess = sessions.to_table(
        columns=["user_id", "video_id", "played_s", "duration_s", "completed", "last_event_at"],
        filter=ds.field("user_id").isin(pc.unique(touched.column("user_id"))))
    rows = lake_rs.conform(R.user_title_rows(touched, sess), T.USER_TITLE)

    def go(dt, props):
        (dt.merge(rows, predicate="t.user_id = u.user_id AND t.video_id = u.video_id", source_alias="u",
                  target_alias="t", commit_properties=props)
           .when_matched_update_all().when_not_matched_insert_all().execute())

    lake_rs.write(T.USER_TITLE, s, go, **txn)


def update_quality(s: Settings, adds: "pa.Table", dates: list, now, txn: dict) -> None:
    """Played seconds and stalls added from the batch; startup percentiles recomputed from silver's
    ``startup`` partitions of ``dates`` (partition pruning: the work follows the batch's dates)."""
    silver = lake_rs.open_table(T.SILVER, s)
    startups = silver.to_pyarrow_dataset(
        partitions=[("event_date", "in", [d.isoformat() for d in dates]), ("type", "=", "startup")]
    ).to_table(columns=["event_date", "rung", "device", "startup_ms"]) if dates else None
    if startups is None:
        import pyarrow as pa

        startups = pa.table({"event_date": pa.array([], pa.date32()), "rung": pa.array([], pa.string()),
                             "device": pa.array([], pa.string()), "startup_ms": pa.array([], pa.int64())})
    rows = R.quality_rows(adds, startups, now)

    def go(dt, props):
        (dt.merge(rows, predicate="t.date = u.date AND t.rung = u.rung AND t.device = u.device",
                  source_alias="u", target_alias="t", commit_properties=props)
           .when_matched_update(updates=_QUALITY_UPDATE).when_not_matched_insert(updates=_QUALITY_INSERT)
           .execute())

    lake_rs.write(T.PLAYBACK_QUALITY, s, go, **txn)


def _nulls(t: "pa.Table", like: str):
    import pyarrow as pa

    return pa.nulls(t.num_rows, t.schema.field(like).type)


def _span(touched: "pa.Table") -> tuple[datetime, datetime]:
    """(first, last) start time of the touched sessions, before and after the batch."""
    import pyarrow.compute as pc

    started = touched.column("started_at")
    prev = pc.coalesce(touched.column("prev_started_at"), started)
    lo = min(pc.min(started).as_py(), pc.min(prev).as_py())
    hi = max(pc.max(started).as_py(), pc.max(prev).as_py())
    return lo, hi
