"""What recommendation serving reads besides the model: the ready catalog and title popularity.

No HTTP, no Spark: ``deltalake`` (delta-rs) reads the gold tables, the catalog store lists ready
titles.  :class:`vodflow.recs.serving.RecsService` applies its rules on top of these.

* :class:`CatalogSnapshot` / :func:`load_catalog_snapshot`: ready titles with their regions
  (``regions == ()`` is worldwide).
* :func:`title_popularity`: the cold-start order, by unique viewers over the newest
  :data:`POPULARITY_WINDOW_DAYS` days of the gold ``title_daily`` table;
  :func:`interaction_popularity`: by distinct users in ``user_title`` (when there is no bundle either).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from vodflow.analytics.tables import TITLE_DAILY, USER_TITLE
from vodflow.clients import delta_storage_options
from vodflow.settings import Settings

POPULARITY_WINDOW_DAYS = 28


def _delta_location(path: str, s: Settings) -> tuple[str, dict[str, str] | None]:
    """``(uri, storage_options)`` for the deltalake reader (no Spark)."""
    opts = delta_storage_options(s, path)
    return ("s3://" + path.split("://", 1)[1] if opts is not None else path), opts


def read_delta(path: str, s: Settings, columns: list[str]):
    """A Delta table as pandas with ``deltalake`` (delta-rs); None if there is no table there."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri, opts = _delta_location(path, s)
    try:
        t = DeltaTable(uri, storage_options=opts)
    except TableNotFoundError:
        return None
    return t.to_pandas(columns=columns)


def title_popularity(s: Settings, window_days: int = POPULARITY_WINDOW_DAYS) -> list[str] | None:
    """Video ids by unique viewers over the newest ``window_days`` of the gold ``title_daily`` table (None if absent).

    The window ends at the newest date *in the table*, not today, so a stalled pipeline still
    gives a sensible order.  Ties: more views, then video id.
    """
    df = read_delta(TITLE_DAILY.location(s), s, ["video_id", "date", "views", "unique_viewers"])
    if df is None or df.empty:
        return None
    newest = df["date"].max()
    recent = df[df["date"] > newest - dt.timedelta(days=window_days)]
    agg = recent.groupby("video_id")[["unique_viewers", "views"]].sum().reset_index()
    agg = agg.sort_values(["unique_viewers", "views", "video_id"], ascending=[False, False, True], kind="mergesort")
    return agg["video_id"].astype(str).tolist()


def interaction_popularity(s: Settings) -> list[str] | None:
    """Video ids by distinct users in the gold ``user_title`` table (fallback when there is no bundle either)."""
    df = read_delta(USER_TITLE.location(s), s, ["user_id", "video_id"])
    if df is None or df.empty:
        return None
    agg = df.drop_duplicates().groupby("video_id").size().rename("n").reset_index()
    agg = agg.sort_values(["n", "video_id"], ascending=[False, True], kind="mergesort")
    return agg["video_id"].astype(str).tolist()


@dataclass
class CatalogSnapshot:
    """Ready titles: id -> (title, regions).  ``regions == []`` means worldwide."""

    titles: dict[str, tuple[str, tuple[str, ...]]]
    loaded_at: float

    def available(self, video_id: str, region: str | None) -> bool:
        t = self.titles.get(video_id)
        if t is None:
            return False
        regions = t[1]
        return not regions or (region is not None and region in regions)


def load_catalog_snapshot(catalog_url: str) -> CatalogSnapshot:
    """Ready titles, three columns in one query (no renditions: ~50x faster than paging through
    ``list_videos`` records, which matters because a request waits for it when the snapshot is due)."""
    import sqlalchemy as sa

    from vodflow.catalog import db, get_catalog
    from vodflow.catalog.models import Video, VideoStatus

    get_catalog(catalog_url)  # the schema, upgraded on first use
    q = sa.select(Video.id, Video.title, Video.regions).where(Video.status == VideoStatus.READY)
    with db.transaction(db.normalize_url(catalog_url), write=False) as session:
        titles = {vid: (title, tuple(regions or ())) for vid, title, regions in session.execute(q)}
    return CatalogSnapshot(titles, time.monotonic())
