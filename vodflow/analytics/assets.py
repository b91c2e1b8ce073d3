"""The platform's data as Airflow assets: each asset is built here (or, for the model, in
:mod:`vodflow.recs.registry`), from the declaration of what it stands for.

A DAG that reads or writes a table takes its asset from :func:`asset` (``asset(T.USER_TITLE)``), never
from a name or a path of its own, so renaming or moving a table in :mod:`vodflow.analytics.tables`
moves the producer's outlet and the consumer's schedule together:

* name: ``vodflow_`` + the table's path with ``/`` as ``_`` (``gold/user_title`` -> ``vodflow_gold_user_title``)
* URI:  the table's location under ``VODFLOW_LAKE_URI``; ``s3a://`` is written ``s3://`` (Airflow's
  scheme for S3 assets), a local path ``file://`` + the absolute path.

Besides the lake tables, two object-store prefixes: :func:`uploads` (the masters bucket, what the
upload API writes and ``video_ingest`` reads) and :func:`published` (the origin bucket, where
``video_ingest`` publishes the ladders).

The lineage the DAGs declare (task inlets -> task outlets; Airflow's asset graph draws it, and
``tests/stack/test_asset_graph.py`` checks it through the REST API)::

    uploads ─ video_ingest.transcode ─► published ─ video_ingest.record_title ─► dim/titles
    dim/titles, silver/video_events ─ analytics_maintenance.freshness ─► silver/video_events, gold/*
    gold/sessions ─ analytics_maintenance.announce_user_title ─► gold/user_title (schedules recs_training)
    gold/user_title ─ recs_training.train ─► model ─ recs_training.publish ─► gold/recommendations

The stream service that writes silver and gold is not an Airflow task: ``freshness``, which certifies
hourly that it carried the newest events into gold, carries its lineage (docs/analytics.md). Only
``announce_user_title`` has ``gold/user_title`` as an outlet: an event on it starts ``recs_training``.
Airflow is imported only when an asset is built, so this module stays light for the API and the CLI.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vodflow.analytics import tables as T
from vodflow.analytics.tables import Table
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from airflow.sdk import Asset

#: the master uploads (``masters/<id>/original.<ext>``) and the published ladders
UPLOADS_NAME, PUBLISHED_NAME = "vodflow_uploads", "vodflow_published"


def asset_name(t: Table) -> str:
    return "vodflow_" + t.path.replace("/", "_")


def asset_uri(path: str) -> str:
    """Airflow asset URI of a Delta table location (``s3a://`` -> ``s3://``, local path -> ``file://``)."""
    if path.startswith("s3a://"):
        return "s3://" + path[len("s3a://"):]
    if "://" in path:
        return path
    return "file://" + os.path.abspath(path)


def table_uri(t: Table, settings: Settings | None = None) -> str:
    return asset_uri(t.location(settings or get_settings()))


def asset(t: Table, settings: Settings | None = None) -> "Asset":
    """The Airflow asset of table ``t`` (for a DAG's ``schedule`` or a task's ``inlets``/``outlets``)."""
    from airflow.sdk import Asset

    return Asset(name=asset_name(t), uri=table_uri(t, settings))


def uploads(settings: Settings | None = None) -> "Asset":
    """The uploaded masters (``s3://<masters bucket>/masters``)."""
    from airflow.sdk import Asset

    return Asset(name=UPLOADS_NAME, uri=f"s3://{(settings or get_settings()).bucket_masters}/masters")


def published(settings: Settings | None = None) -> "Asset":
    """The published HLS/DASH ladders the CDN serves (``s3://<origin bucket>``)."""
    from airflow.sdk import Asset

    return Asset(name=PUBLISHED_NAME, uri=f"s3://{(settings or get_settings()).bucket_origin}/")


USER_TITLE_ASSET = asset_name(T.USER_TITLE)  # what the analytics job announces and recs_training waits for
TITLES_ASSET = asset_name(T.TITLES)
#: the lineage Airflow's asset graph shows, upstream first (names of assets; the model's is in recs.registry)
LAKE_CHAIN = (UPLOADS_NAME, TITLES_ASSET, asset_name(T.SILVER), asset_name(T.SESSIONS), USER_TITLE_ASSET)
