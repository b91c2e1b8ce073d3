"""analytics_maintenance: keep the watch-analytics Delta tables fast and prove they are fresh.

Hourly: `freshness` fails loudly when gold lags the newest event on Kafka by more than
VODFLOW_EVENTS_FRESHNESS_MAX (the stream is not an Airflow task: this check carries its
lineage, events -> gold, in the asset graph); `sync_titles` brings the lake's titles dimension
(`vodflow.titles`) in step with the catalog (MERGE by video_id: new, changed and deleted titles;
no commit when nothing changed); `optimize` compacts small files and Z-orders by the columns
analysts filter on; `vacuum` removes unreferenced files older than the retention (never
below Delta's 7-day safety floor); `announce_user_title` emits an event on the gold
user-title asset (which starts `recs_training`) once enough rows changed since the last
announcement (VODFLOW_RECS_RETRAIN_MIN_CHANGES), and is skipped otherwise. Safe while the
stream writes. See docs/analytics.md and docs/recommendations.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from vodflow.analytics import tables as T
from vodflow.analytics.assets import asset

user_title, sessions, titles, events = asset(T.USER_TITLE), asset(T.SESSIONS), asset(T.TITLES), asset(T.SILVER)
# The stream service is not an Airflow task, so the tasks that watch it declare its lineage
# (vodflow/analytics/assets.py): `freshness` certifies what the stream carried into the lake from the
# events of the published titles; `announce_user_title` the interactions it derived from the sessions.
# user_title is only an outlet of `announce_user_title`: an event on it starts recs_training.
stream_outputs = [events] + [asset(t) for t in T.GOLD if t is not T.USER_TITLE]


@dag(
    dag_id="analytics_maintenance",
    description=("Hourly: freshness check, OPTIMIZE/Z-order and VACUUM of the analytics Delta tables; announces "
                 "user_title changes to recs_training"),
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["vodflow", "analytics"],
    doc_md=__doc__,
    params={
        "recent_days": Param(2, type="integer", minimum=1, maximum=365, title="Days to compact",
                             description="OPTIMIZE the partitions of the last N days of partitioned tables"),
        "vacuum_retain_hours": Param(168, type="integer", minimum=168, title="VACUUM retention (hours)",
                                     description="At least 168 (7 days): Delta's safe minimum"),
        "vacuum_full": Param(False, type="boolean", title="Full VACUUM",
                             description="List the table directories too (slow); default LITE reads the Delta log"),
    },
    dagrun_timeout=pendulum.duration(hours=2),
    default_args={"owner": "vodflow-analytics", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
)
def analytics_maintenance():
    @task(inlets=[titles, events], outlets=stream_outputs)
    def freshness() -> dict:
        from vodflow.analytics.maintenance import check_freshness

        f = check_freshness()
        if not f.ok:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"STALE: {f.message()}. Check `vodflow status` (analytics-stream) "
                                       "and `vodflow logs analytics-stream`.")
        return {"lag_s": f.lag_s, "message": f.message()}

    @task(pool="spark")
    def optimize(params=None) -> dict:
        from vodflow.analytics.maintenance import optimize as run
        from vodflow.spark import get_spark

        return run(get_spark("analytics-optimize"), recent_days=int(params["recent_days"]))

    @task(pool="spark")
    def vacuum(params=None) -> dict:
        from vodflow.analytics.maintenance import vacuum as run
        from vodflow.spark import get_spark

        return run(get_spark("analytics-vacuum"), retain_hours=int(params["vacuum_retain_hours"]),
                   full=bool(params["vacuum_full"]))

    @task(outlets=[titles])
    def sync_titles() -> dict:
        from vodflow.analytics.titles import sync

        return sync().as_dict()

    @task(inlets=[sessions, user_title], outlets=[user_title])
    def announce_user_title(inlet_events=None, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from vodflow.recs.retrain_trigger import decide_for_settings, last_announced_version

        since = last_announced_version(inlet_events[user_title].ascending(False).limit(20))
        d = decide_for_settings(since)
        if not d.announce:
            raise AirflowSkipException(d.reason)
        outlet_events[user_title].extra = d.extra()
        return {**d.extra(), "reason": d.reason}

    freshness()
    sync_titles()
    optimize() >> vacuum()
    announce_user_title()


analytics_maintenance()
