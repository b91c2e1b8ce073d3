"""What an operator needs to judge a title: the catalog's full row, the ladder, QoE, links, a retry.

Rules and sources:

* The catalog's full rows (error texts, master keys, run ids) are operator-only
  (vodflow/catalog/views.py): they are read here with the catalog service the API uses
  (:class:`vodflow.catalog.Catalog`, :func:`vodflow.catalog.views.operator_video`), and only the
  router that serves them behind Airflow's own login (vodflow/operator/routes.py) may show them.
* The ladder is the published renditions plus ``source_props["ladder"]`` (written by the ingest's
  ``transcode``, vodflow/ingest/pipeline.py): ``mode`` (per-title or fixed), ``picks``,
  ``fallback_reason`` and ``plot_key`` -- the origin-bucket key of ``ladder/rate_quality.png``
  (per-title ladders only).
* A failed title's ``error`` is ``"<rejected|failed> [<code>]: <sentence>"``
  (``vodflow.ingest.pipeline.failure_text``); vodflow/catalog/reasons.py takes it apart.
* QoE of a title is read from the lake's ``vodflow.sessions`` (docs/analytics.md) with
  ``vodflow sql``'s reader (delta-rs + DuckDB, no JVM): views, completion, startup p50/p95 and
  rebuffer ratio over the last ``days``.
* Retrying an ingest starts a new ``video_ingest`` run for the title through Airflow's REST API
  (:class:`vodflow.airflow_client.AirflowClient`), with the conf the dispatcher gives it
  (``{"video_id": ...}``; the run resolves the master from the catalog). A title still
  ``processing`` is refused (:class:`RetryRefused`): its run owns it and a new run would be skipped.

No FastAPI here: plain functions returning data.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone
from typing import Any, Optional

from vodflow.catalog import Catalog, VideoRecord
from vodflow.catalog.reasons import split_reason
from vodflow.catalog.views import operator_video
from vodflow.settings import Settings

INGEST_DAG = "video_ingest"
QOE_DAYS = 30


class RetryRefused(RuntimeError):
    """The title cannot be queued for ingest again now (the message says why and what to do)."""


class PlotMissing(LookupError):
    """The title has no rate-quality plot (fixed ladder, or not published yet)."""


def ladder_of(rec: VideoRecord) -> dict[str, Any]:
    """The title's ladder: mode, picks, why it fell back, the plot's key and the published rungs."""
    lad = dict((rec.source_props or {}).get("ladder") or {})
    return {"mode": lad.get("mode"), "picks": lad.get("picks") or [], "fallback_reason": lad.get("fallback_reason"),
            "plot_key": lad.get("plot_key"), "analysis_key": lad.get("analysis_key"),
            "rungs": [r.to_dict() for r in rec.renditions]}


def dag_run_path(rec: VideoRecord) -> Optional[str]:
    """The Airflow UI path of the title's last ingest run (``None`` if it never ran)."""
    return f"/dags/{INGEST_DAG}/runs/{rec.last_run_id}" if rec.last_run_id else None


def title_row(rec: VideoRecord, s: Settings) -> dict[str, Any]:
    """One title for the operator: the full catalog row plus its reason, ladder and links."""
    reason = split_reason(rec.error)
    out = operator_video(rec)
    out.update({
        "reason": dataclasses.asdict(reason) if reason else None,
        "ladder": ladder_of(rec),
        "links": {"dag_run": dag_run_path(rec), "dag": f"/dags/{INGEST_DAG}",
                  "player": f"{s.api_url.rstrip('/')}/watch/{rec.id}" if rec.status.value == "ready" else None},
    })
    return out


def list_titles(cat: Catalog, s: Settings, status: Optional[str] = None, limit: int = 200,
                offset: int = 0) -> list[dict[str, Any]]:
    """Titles newest first (every status unless ``status``), as :func:`title_row`."""
    return [title_row(r, s) for r in cat.list_videos(status or None, limit=limit, offset=offset)]


def get_title(cat: Catalog, s: Settings, video_id: str) -> dict[str, Any]:
    """One title as :func:`title_row`; ``VideoNotFound`` if there is none."""
    return title_row(cat.get_video(video_id), s)


def rate_quality_png(cat: Catalog, s: Settings, video_id: str, s3=None) -> bytes:
    """The title's published ``ladder/rate_quality.png`` from the origin bucket."""
    from vodflow.clients import s3_client

    key = ladder_of(cat.get_video(video_id))["plot_key"]
    if not key:
        raise PlotMissing(f"video {video_id} has no rate-quality plot: only per-title ladders have one "
                          "(VODFLOW_LADDER_MODE=per-title) and only once the title is published")
    try:
        return (s3 or s3_client(s)).get_object(Bucket=s.bucket_origin, Key=key)["Body"].read()
    except Exception as e:  # noqa: BLE001
        code = getattr(e, "response", {}).get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise PlotMissing(f"the plot s3://{s.bucket_origin}/{key} is missing from the origin: re-ingest "
                              "the title (retry) to publish it again") from None
        raise


QOE_SQL = """
SELECT count(*) AS views,
       count(DISTINCT user_id) AS viewers,
       avg(CASE WHEN completed THEN 1.0 ELSE 0.0 END) AS completion_rate,
       quantile_cont(startup_ms, 0.5) AS startup_ms_p50,
       quantile_cont(startup_ms, 0.95) AS startup_ms_p95,
       sum(coalesce(rebuffer_ms, 0)) / nullif(sum(coalesce(rebuffer_ms, 0)) + 1000 * sum(coalesce(played_s, 0)), 0)
           AS rebuffer_ratio,
       sum(played_s) AS watch_time_s,
       max(last_event_at) AS last_view_at
FROM vodflow.sessions
WHERE video_id = '{video_id}' AND started_at >= current_date - INTERVAL {days} DAY
"""


def title_qoe(video_id: str, s: Settings, days: int = QOE_DAYS) -> dict[str, Any]:
    """The title's QoE over the last ``days`` from ``vodflow.sessions`` (see the module docstring).

    ``{"views": 0, ...}`` when nobody watched it; ``{"unavailable": reason}`` when the lake cannot
    be read (no sessions table yet, storage down): QoE is a hint on the page, never its failure.
    """
    from vodflow.analytics.query import AnalyticsError, run_sql

    vid = str(uuid.UUID(video_id))  # the id goes into SQL: only a UUID may
    try:
        t = run_sql(QOE_SQL.format(video_id=vid, days=int(days)), s)
    except AnalyticsError as e:
        return {"unavailable": str(e).splitlines()[0], "days": days}
    row = t.to_pylist()[0] if t.num_rows else {}
    row = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    return {**row, "views": row.get("views") or 0, "days": days}


def retry_ingest(cat: Catalog, video_id: str, client) -> dict[str, Any]:
    """Start a new ``video_ingest`` run for the title through Airflow's REST API; returns the run
    (``dag_run_id``, ``state``). ``client`` is an :class:`~vodflow.airflow_client.AirflowClient`."""
    rec = cat.get_video(video_id)
    if rec.status.value == "processing":
        raise RetryRefused(f"video {video_id} is being ingested by run {rec.last_run_id}: wait for that run to end "
                           "(a retry would be skipped while it holds the title)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return client.trigger(INGEST_DAG, conf={"video_id": video_id}, run_id=f"operator_retry__{video_id}__{stamp}")


__all__ = ["INGEST_DAG", "PlotMissing", "RetryRefused", "dag_run_path", "get_title", "ladder_of", "list_titles",
           "rate_quality_png", "retry_ingest", "title_qoe", "title_row"]
