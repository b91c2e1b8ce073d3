"""The lake's Delta tables as Airflow assets: each asset is built here, from its table's declaration.

A DAG that reads or writes a table takes its asset from :func:`asset` (``asset(T.USER_TITLE)``), never
from a name or a path of its own, so renaming or moving a table in :mod:`vodflow.analytics.tables`
moves the producer's outlet and the consumer's schedule together:

* name: ``vodflow_`` + the table's path with ``/`` as ``_`` (``gold/user_title`` -> ``vodflow_gold_user_title``)
* URI:  the table's location under ``VODFLOW_LAKE_URI``; ``s3a://`` is written ``s3://`` (Airflow's
  scheme for S3 assets), a local path ``file://`` + the absolute path.

Assets in use: ``gold/user_title`` (``analytics_maintenance`` announces it, ``recs_training`` is scheduled
on it) and ``gold/recommendations`` (``recs_training``'s output, :data:`RECOMMENDATIONS`, declared here
because the lakehouse stream does not write it). Airflow is imported only when an asset is built, so
this module stays light for the API and the CLI.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vodflow.analytics.tables import USER_TITLE, Table
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from airflow.sdk import Asset

RECOMMENDATIONS = Table(
    "recommendations", "gold/recommendations",
    (("user_id", "STRING", "account"),
     ("video_id", "STRING", "recommended title"),
     ("rank", "INT", "1 = best"),
     ("score", "FLOAT", "the model's score (user factors . item factors)"),
     ("model_name", "STRING", "registered MLflow model"),
     ("model_version", "STRING", "its version (the champion when published)"),
     ("table_version", "BIGINT", "version of gold/user_title the seen sets come from"),
     ("generated_at", "TIMESTAMP", "when the lists were published")),
    doc="The champion's top-N unseen titles per user, overwritten by recs_training's publish task.")


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
    """The Airflow asset of table ``t`` (for a DAG's ``schedule`` or a task's ``outlets``)."""
    from airflow.sdk import Asset

    return Asset(name=asset_name(t), uri=table_uri(t, settings))


USER_TITLE_ASSET = asset_name(USER_TITLE)  # what the analytics job announces and recs_training waits for
