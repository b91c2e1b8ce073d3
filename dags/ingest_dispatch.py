"""ingest_dispatch: each ingest request on Kafka → its own `video_ingest` run.

An AssetWatcher on the ingest topic turns every message into an asset event. Airflow may
fold several events into one run of this DAG, so the run starts one `video_ingest` run per
request it carries (run id `ingest__<video_id>__k<partition>-<offset>`: a redelivered
message is skipped, never ingested twice). See docs/ingest.md.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.apache.kafka.triggers.await_message import AwaitMessageTrigger
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, AssetWatcher, dag, task

ingest_requests = Asset(
    "vodflow_ingest_requests",
    watchers=[AssetWatcher(
        name="ingest_requests_watcher",
        trigger=AwaitMessageTrigger(
            topics=[os.environ.get("VODFLOW_TOPIC_INGEST", "ingest_requests")],
            kafka_config_id="vodflow_kafka",
            apply_function="vodflow.ingest.trigger.ingest_request_payload",
            poll_interval=1,
        ),
    )],
)


@dag(
    dag_id="ingest_dispatch",
    description="Each ingest request on Kafka starts its own video_ingest run (AssetWatcher on the ingest topic)",
    schedule=[ingest_requests],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["vodflow", "ingest"],
    doc_md=__doc__,
    dagrun_timeout=pendulum.duration(minutes=30),
    default_args={"owner": "vodflow-media", "retries": 3, "retry_delay": pendulum.duration(seconds=10)},
)
def ingest_dispatch():
    @task
    def requests(triggering_asset_events=None) -> list[dict]:
        from vodflow.ingest.dispatch import trigger_kwargs

        return trigger_kwargs(triggering_asset_events)

    TriggerDagRunOperator.partial(
        task_id="start_video_ingest",
        trigger_dag_id="video_ingest",
        skip_when_already_exists=True,
        wait_for_completion=False,
    ).expand_kwargs(requests())


ingest_dispatch()
