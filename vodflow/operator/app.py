"""The operator app: the router of vodflow/operator/routes.py over the catalog, for Airflow to mount.

``create_app(settings, read=..., write=...)`` opens the catalog (and runs its migrations) on first
use, not at import: Airflow imports plugins in every component, and only the api-server serves it.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

from fastapi import FastAPI

from vodflow.settings import Settings, get_settings

URL_PREFIX = "/vodflow-operator"     # where Airflow's api-server mounts the app
NAV_ROUTE = "vodflow-titles"         # the Airflow UI page that shows it (/plugin/vodflow-titles)


def create_app(settings: Settings | None = None, *, read: Sequence[Any] = (), write: Sequence[Any] = ()) -> FastAPI:
    from vodflow.catalog import Catalog
    from vodflow.operator.routes import create_router

    s = settings or get_settings()
    lock, box = threading.Lock(), {}

    def catalog() -> Catalog:
        with lock:
            if "cat" not in box:
                box["cat"] = Catalog(s.catalog_db_url)
            return box["cat"]

    app = FastAPI(title="vodflow operator", description="Titles, ladders, QoE and ingest retries for operators.")
    app.include_router(create_router(s, catalog, read=read, write=write))
    return app
