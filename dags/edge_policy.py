"""edge_policy: what viewers watch decides what the edge keeps and prewarms.

Hourly, and whenever gold/user_title is announced (analytics_maintenance: enough new viewing),
`popularity` reads the last 24 h of gold/title_hourly (starts, completions), scores each title
(recency-weighted starts x completion; a title whose last hour jumped is *trending*) and
`apply_policy` writes the edge policy: popular titles (trending + the VODFLOW_EDGE_POPULAR_TOP best)
are kept as long as the origin allows (a year for segments), the long tail's objects are revalidated
after VODFLOW_EDGE_TAIL_TTL s; nginx re-reads it with `nginx -s reload` (no restart).
`prewarm` then fills the edge ahead of demand through its signed path, until VODFLOW_EDGE_FILL_SHARE
of the cache is used: the popular titles whole, then the other titles watched in the window, then
every other ready title's first seconds, so the first viewers of a title that starts trending (and of
most others) hit the cache.
`vodflow edge policy` shows the policy in force. See docs/playback.md ("Popularity-driven edge").
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from vodflow.analytics import tables as T
from vodflow.analytics.assets import asset

title_hourly = asset(T.TITLE_HOURLY)
sessions = asset(T.SESSIONS)
user_title = asset(T.USER_TITLE)


@dag(
    dag_id="edge_policy",
    description=("Hourly (and on new viewing in gold): popularity from gold -> edge cache policy "
                 "(nginx reload) -> prewarm of the popular titles"),
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("5 * * * *", timezone="UTC"), assets=user_title),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["vodflow", "delivery"],
    doc_md=__doc__,
    params={
        "prewarm": Param(True, type="boolean", title="Prewarm",
                         description="Fill the edge through its signed path after the policy is applied "
                                     "(popular titles whole, watched titles, first seconds of the rest)"),
    },
    dagrun_timeout=pendulum.duration(minutes=30),
    default_args={"owner": "vodflow-delivery", "retries": 2, "retry_delay": pendulum.duration(seconds=30),
                  "execution_timeout": pendulum.duration(minutes=15)},
)
def edge_policy():
    @task(inlets=[title_hourly, sessions])
    def popularity() -> dict:
        from vodflow.playback.edge_policy import decide, hourly_views, now_utc
        from vodflow.settings import get_settings

        s, now = get_settings(), now_utc()
        policy = decide(s, hourly_views(s, now), now)
        return policy.to_dict()

    @task
    def apply_policy(policy: dict) -> list[str]:
        from vodflow.cdn.policy import EdgePolicy
        from vodflow.playback.edge_policy import apply
        from vodflow.settings import get_settings

        p = EdgePolicy.from_dict(policy)
        print(apply(get_settings(), p))
        return p.popular_ids

    @task
    def prewarm(policy: dict, params=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from vodflow.cdn.policy import EdgePolicy
        from vodflow.playback.edge_policy import fill_edge
        from vodflow.settings import get_settings

        if not params["prewarm"]:
            raise AirflowSkipException("prewarm is off for this run (param prewarm=false)")
        done = fill_edge(get_settings(), EdgePolicy.from_dict(policy))
        if done["errors"] and not done["bytes"]:
            raise RuntimeError(f"the fill failed for every title, e.g. {done['errors'][0]}: is the edge up "
                               "(`vodflow status`)?")
        return done

    policy = popularity()
    apply_policy(policy) >> prewarm(policy)


edge_policy()
