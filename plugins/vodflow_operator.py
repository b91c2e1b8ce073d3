"""Airflow UI plugin: the vodflow operator pages (vodflow/operator/) under "vodflow titles" in the navigation.

The api-server mounts the app at /vodflow-operator; the UI shows it at /plugin/vodflow-titles. Reads
need permission to read video_ingest's runs, the retry to trigger them (Airflow's own auth).
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends

from vodflow.operator.app import NAV_ROUTE, URL_PREFIX, create_app
from vodflow.operator.titles import INGEST_DAG

app = create_app(read=[Depends(requires_access_dag("GET", DagAccessEntity.RUN, INGEST_DAG))],
                 write=[Depends(requires_access_dag("POST", DagAccessEntity.RUN, INGEST_DAG))])


class VodflowOperatorPlugin(AirflowPlugin):
    name = "vodflow_operator"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "vodflow operator"}]
    external_views = [{"name": "vodflow titles", "href": f"{URL_PREFIX}/", "url_route": NAV_ROUTE,
                       "destination": "nav"}]  # no category: a top-level entry of the navigation
