"""The titles dimension (``vodflow.titles``, ``dim/titles``): the catalog's names in the lake.

Analysts join the event and gold tables on ``video_id``; this table gives each id its title,
status, length and regions, so their queries, ``vodflow report dropoff`` and the notebooks show
names, not UUIDs. Rules:

* one row per ``video_id``, written by ``MERGE`` on it: re-running a write changes nothing, so
  every writer is idempotent and Airflow may retry it;
* written when a title is published (``video_ingest``'s ``record_title`` task, right after the
  catalog marks it ready: :func:`record`) and brought in step with the whole catalog hourly
  (``analytics_maintenance``'s ``sync_titles``: :func:`sync`), which also catches renames,
  failures and deletions. Only rows that differ are written; a sync with nothing new makes no commit;
* a title removed from the catalog keeps its row with ``status = 'deleted'``: old events still
  have a name;
* written with delta-rs (no JVM: the write takes well under a second inside an Airflow task);
  a concurrent commit (two ingests finishing together) is retried by re-reading the table.

Pure core (:func:`row_of`, :func:`changed_rows`) behind a thin adapter (:func:`write`, :func:`record`,
:func:`sync`). Source of the columns: :data:`vodflow.analytics.tables.TITLES`; ``duration_s`` is the
master's probed duration the ingest stores in ``source_props["duration"]`` (vodflow/media/probe.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from vodflow.analytics.tables import TITLES
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from vodflow.catalog import VideoRecord


DELETED = "deleted"
#: columns that say what a row is; ``synced_at`` only says when it was written
COMPARED = tuple(c for c in TITLES.column_names if c != "synced_at")
PAGE = 500


@dataclass
class SyncResult:
    written: int       # rows inserted or updated
    deleted: int       # rows newly marked deleted
    titles: int        # rows in the table after the write
    version: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "deleted": self.deleted, "titles": self.titles, "version": self.version}


# -- pure core -------------------------------------------------------------------------------------------

def row_of(rec: "VideoRecord", now: datetime) -> dict[str, Any]:
    """The dimension row of one catalog record."""
    dur = (rec.source_props or {}).get("duration")
    heights = [r.height for r in rec.renditions]
    return {
        "video_id": rec.id, "title": rec.title, "status": getattr(rec.status, "value", rec.status),
        "duration_s": float(dur) if dur is not None else None, "regions": list(rec.regions or []),
        "renditions": len(rec.renditions), "top_height": max(heights) if heights else None,
        "error": rec.error, "created_at": rec.created_at, "ready_at": rec.ready_at,
        "catalog_updated_at": rec.updated_at, "synced_at": now,
    }


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(c) == b.get(c) for c in COMPARED)


def changed_rows(current: dict[str, dict[str, Any]], rows: Iterable[dict[str, Any]], *, complete: bool,
                 now: datetime) -> tuple[list[dict[str, Any]], int]:
    """The rows to MERGE so the table holds ``rows``: new or different ones, and, when ``rows`` is the
    whole catalog (``complete``), every other row still present marked ``deleted``. Returns
    ``(rows, how many of them are deletions)``."""
    out = []
    seen = set()
    for r in rows:
        seen.add(r["video_id"])
        have = current.get(r["video_id"])
        if have is None or not _same(have, r):
            out.append(r)
    gone = 0
    if complete:
        for vid, have in sorted(current.items()):
            if vid not in seen and have.get("status") != DELETED:
                out.append({**have, "status": DELETED, "synced_at": now})
                gone += 1
    return out, gone


# -- adapter: delta-rs ---------------------------------------------------------------------------------

def _open(s: Settings, create: bool):
    from vodflow.analytics.lake_rs import open_table

    return open_table(TITLES, s, create=create)


def read(s: Settings | None = None) -> dict[str, dict[str, Any]]:
    """``{video_id: row}`` of the table (empty when it does not exist yet)."""
    dt = _open(s or get_settings(), create=False)
    if dt is None:
        return {}
    return {r["video_id"]: r for r in _to_arrow(dt).to_pylist()}


def _to_arrow(dt) -> "pa.Table":
    from deltalake import QueryBuilder

    import pyarrow as pa

    return pa.table(QueryBuilder().register("t", dt).execute("SELECT * FROM t"))


def _merge(dt, rows: list[dict[str, Any]], props) -> None:
    import pyarrow as pa

    from vodflow.analytics.query import arrow_schema

    src = pa.Table.from_pylist(rows, schema=arrow_schema(TITLES))
    (dt.merge(src, predicate="t.video_id = s.video_id", source_alias="s", target_alias="t", commit_properties=props)
       .when_matched_update_all().when_not_matched_insert_all().execute())


def write(rows: list[dict[str, Any]], s: Settings | None = None, *, complete: bool = False) -> SyncResult:
    """MERGE ``rows`` (dimension rows, :func:`row_of`) into the table, creating it if needed; with
    ``complete`` (``rows`` is the whole catalog) rows of titles no longer in it become ``deleted``.
    Idempotent; a commit that lost a race with another writer is retried on the re-read table
    (:func:`vodflow.analytics.lake_rs.write`)."""
    from vodflow.analytics import lake_rs

    s = s or get_settings()
    now = datetime.now(timezone.utc)

    def go(dt, props) -> SyncResult:
        current = {r["video_id"]: r for r in _to_arrow(dt).to_pylist()}
        todo, gone = changed_rows(current, rows, complete=complete, now=now)
        if not todo:
            return SyncResult(0, 0, len(current), dt.version())
        _merge(dt, todo, props)
        dt.update_incremental()
        new = sum(1 for r in todo if r["video_id"] not in current)
        return SyncResult(len(todo) - gone, gone, len(current) + new, dt.version())

    return lake_rs.write(TITLES, s, go)


def record(video_id: str, s: Settings | None = None) -> SyncResult:
    """Write one title's row from the catalog (after publishing it)."""
    from vodflow.catalog import get_video

    s = s or get_settings()
    return write([row_of(get_video(video_id, db_url=s.catalog_db_url), datetime.now(timezone.utc))], s)


def catalog_rows(s: Settings) -> list[dict[str, Any]]:
    """Every title of the catalog as dimension rows (read in pages)."""
    from vodflow.catalog import list_videos

    now = datetime.now(timezone.utc)
    out: dict[str, dict[str, Any]] = {}   # by id: an upload during the paging repeats a row, never two
    offset = 0
    while True:
        page = list_videos(limit=PAGE, offset=offset, db_url=s.catalog_db_url)
        out.update((r.id, row_of(r, now)) for r in page)
        offset += len(page)
        if len(page) < PAGE:
            return list(out.values())


class EmptyCatalog(RuntimeError):
    """The catalog has no title while the table names some: a wrong VODFLOW_CATALOG_DB_URL, most likely."""


def sync(s: Settings | None = None) -> SyncResult:
    """Bring the table in step with the whole catalog (new, changed and deleted titles). An empty catalog
    never marks every title deleted (:class:`EmptyCatalog`): that is a misconfiguration, not a purge."""
    s = s or get_settings()
    rows = catalog_rows(s)
    if not rows:
        named = sum(1 for r in read(s).values() if r.get("status") != DELETED)
        if named:
            raise EmptyCatalog(f"the catalog at {s.catalog_db_url} has no titles but vodflow.titles names {named}: "
                               "not marking them all deleted; check VODFLOW_CATALOG_DB_URL")
    return write(rows, s, complete=True)
