"""The video catalog: SQLAlchemy models, packaged Alembic migrations and transactional service functions.

The DAG and the API use the module-level functions (``create_video``, ``start_processing``,
``mark_ready``, ``mark_failed``, ``get_video``, ``list_videos``); they talk to
``VODFLOW_CATALOG_DB_URL`` unless given ``db_url=`` and upgrade the schema on first use.
"""

from vodflow.catalog.models import VideoStatus
from vodflow.catalog.repository import (
    TRANSITIONS,
    Catalog,
    CatalogError,
    IllegalTransition,
    InvalidCatalogData,
    RenditionInfo,
    VideoNotFound,
    VideoRecord,
    create_video,
    get_catalog,
    get_video,
    list_videos,
    mark_failed,
    mark_ready,
    normalize_regions,
    requeue,
    start_processing,
)

__all__ = [
    "TRANSITIONS", "Catalog", "CatalogError", "IllegalTransition", "InvalidCatalogData", "RenditionInfo",
    "VideoNotFound", "VideoRecord", "VideoStatus", "create_video", "get_catalog", "get_video", "list_videos",
    "mark_failed", "mark_ready", "normalize_regions", "requeue", "start_processing",
]
