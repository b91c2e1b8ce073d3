"""The gold rows of one stream batch, computed from Arrow tables with DuckDB (pure: no lake, no Spark).

The stream (:mod:`stream_gold`) hands this module small Arrow tables - the batch's per-session partial
aggregates, the ``sessions`` rows it touched, the ``sessions`` rows of the touched periods, silver's
startup events of the touched dates - and gets back the exact rows to MERGE into each gold table. The
rules are the ones ``docs/analytics.md`` states for each column:

* ``title_hourly`` / ``title_daily``: a session counts in the hour / day of its ``started_at``; every
  (title, period) a batch touched - including the period a late event moved a session *out of*
  (``prev_started_at``) - is recomputed from all its sessions, so a row is right however often it is
  written; a period left with no session gets ``views = 0`` (the MERGE deletes it).
* ``user_title``: per (user, title) pair touched, recomputed from all the pair's sessions.
* ``playback_quality``: played time and stalls are *added* per (date, rung, device); startup
  percentiles are recomputed exactly (linear interpolation, as Spark's ``percentile``) from the startup
  events of the touched dates.

Times are UTC (the connection's time zone is set to UTC: hours and dates are cut in UTC as Spark's
``date_trunc`` / ``to_date`` are in the stream's session).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterator

from vodflow.analytics import tables as T

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

PERIODS = {  # gold table -> (key column, SQL that cuts a timestamp column {c} into the period)
    T.TITLE_HOURLY.name: ("hour", "date_trunc('hour', {c})"),
    T.TITLE_DAILY.name: ("date", "CAST({c} AS DATE)"),
}


def periods_between(table: str, lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """[start of ``lo``'s period, end of ``hi``'s period) for ``table``'s period (hour or day): the
    ``started_at`` range of sessions that can count in the touched periods."""
    if PERIODS[table][0] == "hour":
        return lo.replace(minute=0, second=0, microsecond=0), \
            hi.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return lo.replace(hour=0, minute=0, second=0, microsecond=0), \
        hi.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


@contextmanager
def connection() -> Iterator["object"]:
    """A private in-memory DuckDB connection in UTC (one per call: thread safe, nothing shared)."""
    import duckdb

    con = duckdb.connect(config={"threads": 2})
    try:
        con.sql("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def _metrics_sql() -> str:
    b = T.DROPOFF_BUCKETS
    bucket = (f"CASE WHEN NOT completed AND duration_s > 0 THEN "
              f"least({b - 1}, CAST(floor(least(1.0, last_position_s / duration_s) * {b}) AS INTEGER)) END")
    dropoff = ", ".join(f"count(*) FILTER (WHERE ({bucket}) = {i})" for i in range(b))  # 0, never NULL
    return f"""
        count(*)::BIGINT AS views, count(DISTINCT user_id)::BIGINT AS unique_viewers,
        sum(played_s) AS watch_time_s, count(*) FILTER (WHERE completed) AS completions,
        count(*) FILTER (WHERE completed) / count(*) AS completion_rate,
        avg(CASE WHEN duration_s > 0 THEN least(1.0, played_s / duration_s) END) AS avg_share_watched,
        [{dropoff}] AS dropoff"""


def period_keys(touched: "pa.Table", table: str) -> "pa.Table":
    """(video_id, period) pairs the batch touched: each touched session's period and, when a late event
    moved it, the period it was in before."""
    key, cut = PERIODS[table]
    with connection() as con:
        con.register("touched", touched)
        return con.sql(f"""
            SELECT DISTINCT video_id, {cut.format(c='started_at')} AS {key} FROM touched
            UNION SELECT DISTINCT video_id, {cut.format(c='prev_started_at')} FROM touched
                  WHERE prev_started_at IS NOT NULL""").to_arrow_table()


def title_rows(keys: "pa.Table", sessions: "pa.Table", table: str, now) -> "pa.Table":
    """The rows of ``table`` (title_hourly or title_daily) for ``keys`` (:func:`period_keys`), from
    ``sessions`` (at least every session that started in those periods; others are ignored).
    A key with no session left has ``views = 0`` and nulls."""
    key, cut = PERIODS[table]
    with connection() as con:
        con.register("keys", keys)
        con.register("sessions", sessions)
        return con.sql(f"""
            WITH agg AS (
                SELECT s.video_id, {cut.format(c='s.started_at')} AS {key}, {_metrics_sql()}
                FROM sessions s SEMI JOIN keys k
                  ON s.video_id = k.video_id AND {cut.format(c='s.started_at')} = k.{key}
                GROUP BY ALL)
            SELECT k.video_id, k.{key}, coalesce(a.views, 0)::BIGINT AS views, a.unique_viewers,
                   a.watch_time_s, a.completions, a.completion_rate, a.avg_share_watched, a.dropoff,
                   $now::TIMESTAMPTZ AS updated_at
            FROM keys k LEFT JOIN agg a ON k.video_id = a.video_id AND k.{key} = a.{key}
            ORDER BY 1, 2""", params={"now": now}).to_arrow_table()


def user_title_rows(touched: "pa.Table", sessions: "pa.Table") -> "pa.Table":
    """``user_title`` rows of the (user, title) pairs in ``touched``, from all their ``sessions``."""
    with connection() as con:
        con.register("touched", touched)
        con.register("sessions", sessions)
        return con.sql("""
            SELECT s.user_id, s.video_id, count(*)::BIGINT AS sessions, sum(s.played_s) AS watch_time_s,
                   least(1.0, sum(s.played_s) / max(s.duration_s)) AS watch_fraction,
                   bool_or(s.completed) AS completed, max(s.last_event_at) AS last_watched
            FROM sessions s SEMI JOIN (SELECT DISTINCT user_id, video_id FROM touched) k
              ON s.user_id = k.user_id AND s.video_id = k.video_id
            GROUP BY ALL ORDER BY 1, 2""").to_arrow_table()


def quality_rows(adds: "pa.Table", startups: "pa.Table", now) -> "pa.Table":
    """Per (date, rung, device): the batch's played time and stalls to add (``adds``: date, rung, device,
    played_s, rebuffers, rebuffer_ms) and the exact startup count and percentiles over ``startups``
    (event_date, rung, device, startup_ms: every startup event of the touched dates)."""
    with connection() as con:
        con.register("adds", adds)
        con.register("startups", startups)
        return con.sql("""
            WITH st AS (
                SELECT event_date AS date, rung, device, count(*)::BIGINT AS startups,
                       quantile_cont(startup_ms, 0.5) AS p50, quantile_cont(startup_ms, 0.95) AS p95
                FROM startups GROUP BY ALL)
            SELECT coalesce(a.date, st.date) AS date, coalesce(a.rung, st.rung) AS rung,
                   coalesce(a.device, st.device) AS device, coalesce(st.startups, 0)::BIGINT AS startups,
                   st.p50::DOUBLE AS p50, st.p95::DOUBLE AS p95, coalesce(a.played_s, 0.0) AS played_s,
                   coalesce(a.rebuffers, 0)::BIGINT AS rebuffers, coalesce(a.rebuffer_ms, 0)::BIGINT AS rebuffer_ms,
                   $now::TIMESTAMPTZ AS updated_at
            FROM adds a FULL OUTER JOIN st ON a.date = st.date AND a.rung = st.rung AND a.device = st.device
            ORDER BY 1, 2, 3""", params={"now": now}).to_arrow_table()


def freshness(server_ds: "pa.Table", done_epoch_s: float, oldest_epoch_s: float,
              hist_len: int = T.FRESHNESS_HIST_S):
    """(p50, p99, max, 1 s histogram) of ``done - server_ts`` over a batch's events, from counts per
    decisecond of ``server_ts`` (columns ``ds`` = floor(epoch seconds x 10) and ``n``; each count is
    placed at its decisecond's middle, so the histogram is exact to 0.1 s); the max is exact, from
    the oldest ``server_ts``. The quantiles are interpolated inside their 1 s bucket."""
    hist = [0] * (hist_len + 1)
    for ds, n in zip(server_ds.column("ds").to_pylist(), server_ds.column("n").to_pylist()):
        lag = done_epoch_s - (ds / 10 + 0.05)
        hist[min(hist_len, max(0, int(lag)))] += n
    return hist_quantile(hist, 0.5), hist_quantile(hist, 0.99), round(done_epoch_s - oldest_epoch_s, 3), hist


def hist_quantile(hist: list[int], q: float) -> float:
    """The q-quantile of a 1 s histogram, interpolated inside its bucket (exact to the second)."""
    total = sum(hist)
    want, seen = q * total, 0
    for i, n in enumerate(hist):
        if n and seen + n >= want:
            return float(i + (want - seen) / n)
        seen += n
    return float(len(hist) - 1)
