"""Airflow glue for the video_ingest DAG: request resolution, retries and failure recording.

A step that fails on its last try (or with bad input, which is never retried) marks the
title ``failed`` with the reason and removes what the run published.
"""

from __future__ import annotations

import logging
from typing import Any

from vodflow.ingest import pipeline

log = logging.getLogger("vodflow.ingest")


def _is_last_try(ti) -> bool:
    if ti is None:
        return True
    return ti.try_number >= (ti.max_tries or 0) + 1


def _fail_task(req: dict | None, reason: str, final: bool) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    pipeline.fail(req, reason, log=log.info)
    if final:
        raise AirflowFailException(reason)


def run_accept(params: dict | None, run_id: str, ti) -> dict:
    params = dict(params or {})
    video_id, s3_key, title = params.get("video_id"), params.get("s3_key"), params.get("title")
    try:
        return pipeline.accept(run_id, video_id=video_id, s3_key=s3_key, title=title, log=log.info)
    except pipeline.IngestRejected as e:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(pipeline.failure_text("rejected", e.code, e.reason)) from e
    except Exception as e:
        from vodflow.catalog import IllegalTransition

        if isinstance(e, IllegalTransition):
            # at-least-once delivery: another run already holds this title
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"not ingesting: {e}") from e
        raise


def run_step(step: str, req: dict, ti, *args: Any) -> dict:
    fn = getattr(pipeline, step)
    try:
        return fn(req, *args, log=log.info)
    except pipeline.IngestRejected as e:
        _fail_task(req, pipeline.failure_text("rejected", e.code, e.reason), final=True)
    except Exception as e:
        # the task log keeps the exception (command, stderr, paths); the catalog gets a plain sentence
        log.exception("%s failed", step)
        if _is_last_try(ti):
            pipeline.fail(req, pipeline.internal_failure_reason(step, e), log=log.info)
        raise
    raise AssertionError("unreachable")
