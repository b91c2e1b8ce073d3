"""video_ingest: master video → validated → ABR ladder → HLS + DASH (CMAF) → published → ready → named in the lake.

One run per title. Started by `ingest_dispatch` for each ingest request on Kafka (the
upload API publishes one per upload), or by hand from the Airflow UI with a `video_id` or
an `s3_key` (masters/<id>/original.<ext>). A bad master fails with the
reason stored in the catalog and publishes nothing; see docs/ingest.md. `record_title` writes the
title's row of the lake's titles dimension (`vodflow.titles`) once it is ready.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag, task

from vodflow.analytics import tables as T
from vodflow.analytics.assets import asset, published, uploads

HEAVY = {"pool": "encode"}
masters, origin, titles = uploads(), published(), asset(T.TITLES)


@dag(
    dag_id="video_ingest",
    description=("One master: validate, encode the ABR ladder, package HLS + DASH (CMAF), publish to the origin, mark "
                 "the title ready (or failed with the reason)"),
    schedule=None,  # runs come from ingest_dispatch (Kafka) or the trigger form
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    tags=["vodflow", "ingest"],
    doc_md=__doc__,
    params={
        "video_id": Param(None, type=["null", "string"], title="Video id",
                          description="Catalog id of an uploaded video (or leave empty and give the S3 key)"),
        "s3_key": Param(None, type=["null", "string"], title="S3 key of the master",
                        description="masters/<id>/original.<ext> in the masters bucket"),
        "title": Param(None, type=["null", "string"], title="Title",
                       description="Only used when the master is not in the catalog yet"),
    },
    dagrun_timeout=pendulum.duration(hours=12),
    default_args={"owner": "vodflow-media", "retries": 2, "retry_delay": pendulum.duration(seconds=20)},
)
def video_ingest():
    @task
    def accept(params=None, run_id=None, ti=None) -> dict:
        from vodflow.ingest.steps import run_accept

        return run_accept(params, run_id, ti)

    @task(**HEAVY)
    def inspect(req: dict, ti=None) -> dict:
        from vodflow.ingest.steps import run_step

        return run_step("inspect", req, ti)

    @task(**HEAVY, pool_slots=min(2, os.cpu_count() or 1), execution_timeout=pendulum.duration(hours=6),
          inlets=[masters], outlets=[origin])
    def transcode(req: dict, plan: dict, ti=None) -> dict:
        from vodflow.ingest.steps import run_step

        return run_step("transcode", req, ti, plan)

    @task
    def go_live(req: dict, result: dict, ti=None) -> dict:
        from vodflow.ingest.steps import run_step

        return run_step("go_live", req, ti, result)

    @task(inlets=[origin], outlets=[titles])
    def record_title(req: dict, live: dict) -> dict:
        """The published title's row in the lake's titles dimension (MERGE by video_id: a retry is harmless)."""
        from vodflow.analytics.titles import record

        return {"video_id": req["video_id"], **record(req["video_id"]).as_dict()}

    req = accept()
    plan = inspect(req)
    record_title(req, go_live(req, transcode(req, plan)))


video_ingest()
