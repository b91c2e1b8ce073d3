"""Catalog service functions: every status change is one transaction with a validated transition.

State machine (``TRANSITIONS``)::

    uploaded ──start_processing──► processing ──mark_ready──► ready
        │                              │                         │
        │                              └──mark_failed──► failed ◄┘ (no: ready→failed is illegal)
        └──mark_failed──► failed
    failed ──start_processing──► processing      (rerun after a failure)
    ready  ──start_processing──► processing      (rerun, e.g. a new ladder)
    failed ──requeue──► uploaded                 (the API re-publishes a lost ingest request)

Each change reads the row with ``SELECT ... FOR UPDATE`` (a row lock on Postgres; on SQLite the
write transaction starts with ``BEGIN IMMEDIATE``, which serializes writers), checks the
transition, writes, and commits -- or raises and rolls back, leaving the row as it was.

Functions return :class:`VideoRecord` snapshots (plain frozen dataclasses, safe to use after the
session is gone, ``to_dict()`` for JSON).
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from vodflow.catalog import db
from vodflow.catalog.models import Rendition, Video, VideoStatus, utcnow

S = VideoStatus
TRANSITIONS: dict[VideoStatus, frozenset[VideoStatus]] = {
    S.UPLOADED: frozenset({S.PROCESSING, S.FAILED}),
    S.PROCESSING: frozenset({S.READY, S.FAILED}),
    S.FAILED: frozenset({S.PROCESSING, S.UPLOADED}),
    S.READY: frozenset({S.PROCESSING}),
}
MAX_TITLE = 500
MAX_ERROR = 4000
_REGION = re.compile(r"^[A-Z]{2}$")


class CatalogError(Exception):
    """Base class of catalog errors."""


class VideoNotFound(CatalogError, LookupError):
    def __init__(self, video_id: str):
        super().__init__(f"no video with id {video_id!r} in the catalog")
        self.video_id = video_id


class IllegalTransition(CatalogError):
    """A status change the state machine does not allow; the message says what is allowed."""

    def __init__(self, video_id: str, current: VideoStatus, target: VideoStatus, action: str, hint: str = ""):
        allowed = sorted(s.value for s, targets in TRANSITIONS.items() if target in targets)
        msg = (f"cannot {action} video {video_id}: it is {current.value!r}; "
               f"{action} needs status {' or '.join(repr(a) for a in allowed)}")
        super().__init__(msg + (f" ({hint})" if hint else ""))
        self.video_id, self.current, self.target = video_id, current, target


class InvalidCatalogData(CatalogError, ValueError):
    """Arguments that cannot be stored (bad region code, empty title, bad rendition, ...)."""


# ----------------------------------------------------------------------------- value objects
@dataclass(frozen=True)
class RenditionInfo:
    """One rung as published: what the DAG passes to :func:`mark_ready`.

    ``bandwidth`` / ``average_bandwidth`` are what the master playlist declares (bits/s);
    ``measured_*`` what was measured on the segments; ``playlist_key`` the S3 key of the
    rung's media playlist in the origin bucket.
    """

    name: str
    width: int
    height: int
    fps: float
    codecs: str
    bandwidth: int
    average_bandwidth: int | None = None
    measured_avg_bitrate: int | None = None
    measured_peak_bitrate: int | None = None
    playlist_key: str | None = None

    @classmethod
    def coerce(cls, obj: RenditionInfo | Mapping[str, Any]) -> RenditionInfo:
        if isinstance(obj, RenditionInfo):
            r = obj
        else:
            if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                obj = dataclasses.asdict(obj)
            if not isinstance(obj, Mapping):
                raise InvalidCatalogData(f"a rendition must be a RenditionInfo or a mapping, not {type(obj).__name__}")
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = set(obj) - names
            missing = {f.name for f in dataclasses.fields(cls)
                       if f.default is dataclasses.MISSING} - set(obj)
            if unknown or missing:
                raise InvalidCatalogData(
                    f"rendition {obj.get('name', '?')!r}: "
                    + (f"unknown fields {sorted(unknown)} " if unknown else "")
                    + (f"missing fields {sorted(missing)} " if missing else "")
                    + f"(fields: {sorted(names)})")
            r = cls(**obj)
        r.validate()
        return r

    def validate(self) -> None:
        def bad(msg: str) -> InvalidCatalogData:
            return InvalidCatalogData(f"rendition {self.name!r}: {msg}")

        if not isinstance(self.name, str) or not self.name or len(self.name) > 64:
            raise bad("name must be a non-empty string of at most 64 characters")
        for f in ("width", "height", "bandwidth"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise bad(f"{f} must be a positive integer, got {v!r}")
        for f in ("average_bandwidth", "measured_avg_bitrate", "measured_peak_bitrate"):
            v = getattr(self, f)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise bad(f"{f} must be a positive integer or None, got {v!r}")
        if not isinstance(self.fps, (int, float)) or isinstance(self.fps, bool) or not 0 < float(self.fps) <= 1000:
            raise bad(f"fps must be a positive number, got {self.fps!r}")
        if not isinstance(self.codecs, str) or not self.codecs:
            raise bad("codecs must be a non-empty RFC 6381 string, e.g. 'avc1.64001f,mp4a.40.2'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VideoRecord:
    """A snapshot of one catalog row and its renditions."""

    id: str
    title: str
    status: VideoStatus
    error: str | None
    source_key: str
    source_props: dict[str, Any] | None
    hls_master_key: str | None
    dash_mpd_key: str | None
    thumbnails: dict[str, Any] | None
    regions: list[str]
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    ingest_attempts: int
    last_run_id: str | None
    renditions: list[RenditionInfo] = field(default_factory=list)

    @classmethod
    def of(cls, v: Video, with_renditions: bool = True) -> VideoRecord:
        rends = [RenditionInfo(r.name, r.width, r.height, r.fps, r.codecs, r.bandwidth, r.average_bandwidth,
                               r.measured_avg_bitrate, r.measured_peak_bitrate, r.playlist_key)
                 for r in v.renditions] if with_renditions else []
        return cls(v.id, v.title, v.status, v.error, v.source_key, v.source_props, v.hls_master_key,
                   v.dash_mpd_key, v.thumbnails, list(v.regions or []), v.created_at, v.updated_at, v.ready_at,
                   v.ingest_attempts, v.last_run_id, rends)

    @property
    def worldwide(self) -> bool:
        return not self.regions

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        for k in ("created_at", "updated_at", "ready_at"):
            d[k] = d[k].isoformat() if d[k] else None
        d["manifests"] = {"hls": self.hls_master_key, "dash": self.dash_mpd_key}
        return d


# ----------------------------------------------------------------------------- validation
def normalize_regions(regions: str | Iterable[str] | None) -> list[str]:
    """ISO 3166-1 alpha-2 codes, upper-cased and de-duplicated; empty means worldwide.

    Accepts a list or a comma-separated string (``"us, ca"`` -> ``["US", "CA"]``).
    """
    if regions is None:
        return []
    items = regions.split(",") if isinstance(regions, str) else list(regions)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidCatalogData(f"region codes must be strings, got {item!r}")
        code = item.strip().upper()
        if not code:
            continue
        if not _REGION.match(code):
            raise InvalidCatalogData(f"{item.strip()!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, CA, FR)")
        if code not in out:
            out.append(code)
    return out


def _json(name: str, value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise InvalidCatalogData(f"{name} must be a JSON object (a mapping), got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise InvalidCatalogData(f"{name} is not JSON-serializable: {e}") from e


# ----------------------------------------------------------------------------- the catalog
class Catalog:
    """The catalog at one database URL. ``migrate=True`` upgrades the schema on first use."""

    def __init__(self, url: str, *, migrate: bool = True):
        self.url = db.normalize_url(url)
        if migrate:
            db.ensure_schema(self.url)

    # -- helpers -------------------------------------------------------------------
    def _locked(self, session, video_id: str) -> Video:
        v = session.execute(
            sa.select(Video).where(Video.id == video_id).with_for_update()
        ).scalar_one_or_none()
        if v is None:
            raise VideoNotFound(video_id)
        return v

    @staticmethod
    def _check(v: Video, target: VideoStatus, action: str, hint: str = "") -> None:
        if target not in TRANSITIONS[v.status]:
            raise IllegalTransition(v.id, v.status, target, action, hint)

    # -- creation ------------------------------------------------------------------
    def create_video(self, title: str, source_key: str, regions: str | Iterable[str] | None = (), *,
                     video_id: str | None = None) -> VideoRecord:
        """A new video in status ``uploaded`` whose master is at ``source_key`` (masters bucket)."""
        title = (title or "").strip()
        if not title:
            raise InvalidCatalogData("title must not be empty")
        if len(title) > MAX_TITLE:
            raise InvalidCatalogData(f"title is longer than {MAX_TITLE} characters")
        if not source_key or not isinstance(source_key, str):
            raise InvalidCatalogData("source_key must be the S3 key of the master")
        vid = str(uuid.UUID(video_id)) if video_id else str(uuid.uuid4())
        now = utcnow()
        v = Video(id=vid, title=title, status=S.UPLOADED, source_key=source_key,
                  regions=normalize_regions(regions), created_at=now, updated_at=now, ingest_attempts=0)
        with db.transaction(self.url) as s:
            s.add(v)
            s.flush()
            return VideoRecord.of(v, with_renditions=False)

    # -- transitions ---------------------------------------------------------------
    def start_processing(self, video_id: str, run_id: str, *, force: bool = False) -> VideoRecord:
        """``uploaded | failed | ready -> processing`` for DAG run ``run_id``; counts the attempt.

        Idempotent for the same run (an Airflow task retry): a video already ``processing`` under
        ``run_id`` is returned unchanged. ``force=True`` lets a new run take over a video left
        ``processing`` by a run that died without reporting.
        """
        if not run_id:
            raise InvalidCatalogData("run_id must be the Airflow DAG run id")
        with db.transaction(self.url) as s:
            v = self._locked(s, video_id)
            if v.status is S.PROCESSING:
                if v.last_run_id == run_id:
                    return VideoRecord.of(v)
                if not force:
                    raise IllegalTransition(video_id, v.status, S.PROCESSING, "start processing",
                                            f"run {v.last_run_id!r} is processing it; pass force=True "
                                            "to take over from a run that died")
            else:
                self._check(v, S.PROCESSING, "start processing")
            v.status = S.PROCESSING
            v.error = None
            v.last_run_id = run_id
            v.ingest_attempts = (v.ingest_attempts or 0) + 1
            v.updated_at = utcnow()
            s.flush()
            return VideoRecord.of(v)

    def mark_ready(self, video_id: str, renditions: Sequence[RenditionInfo | Mapping[str, Any]],
                   manifests: Mapping[str, str], thumbnails: Mapping[str, Any] | None = None,
                   source_props: Mapping[str, Any] | Any | None = None, *, run_id: str | None = None) -> VideoRecord:
        """``processing -> ready``: replaces the renditions, manifests and thumbnails in one transaction.

        ``manifests``: ``{"hls": <key of master.m3u8>, "dash": <key of manifest.mpd>}`` (at least one).
        ``thumbnails``: JSON object, e.g. ``{"posters": {"1280x720": key, ...}, "storyboard":
        {"sprite": key, "vtt": key}}``. ``source_props``: JSON object (or an object with
        ``to_dict()``, e.g. ``SourceInfo``). ``run_id``: when given, must be the run that started
        processing (a stale run cannot overwrite a newer one).
        """
        rends = [RenditionInfo.coerce(r) for r in renditions]
        if not rends:
            raise InvalidCatalogData("a ready video needs at least one rendition")
        names = [r.name for r in rends]
        if len(set(names)) != len(names):
            raise InvalidCatalogData(f"rendition names must be unique, got {names}")
        unknown = set(manifests) - {"hls", "dash"}
        if unknown:
            raise InvalidCatalogData(f"unknown manifest kinds {sorted(unknown)}; use 'hls' and/or 'dash'")
        hls, dash = manifests.get("hls"), manifests.get("dash")
        if not hls and not dash:
            raise InvalidCatalogData("a ready video needs an HLS master or a DASH MPD key in manifests")
        thumbs = _json("thumbnails", thumbnails)
        props = _json("source_props", source_props)
        with db.transaction(self.url) as s:
            v = self._locked(s, video_id)
            self._check(v, S.READY, "mark ready")
            if run_id is not None and v.last_run_id != run_id:
                raise IllegalTransition(video_id, v.status, S.READY, "mark ready",
                                        f"run {run_id!r} is stale: run {v.last_run_id!r} is processing it")
            # Replace the renditions: delete the old rows first (flush), then insert, so the
            # (video_id, name) unique constraint never sees both sets; all in this transaction.
            v.renditions.clear()
            s.flush()
            v.renditions.extend(Rendition(**r.to_dict()) for r in rends)
            v.hls_master_key, v.dash_mpd_key = hls, dash
            v.thumbnails = thumbs
            if props is not None:
                v.source_props = props
            now = utcnow()
            v.status, v.error, v.ready_at, v.updated_at = S.READY, None, now, now
            s.flush()
            return VideoRecord.of(v)

    def mark_failed(self, video_id: str, reason: str, *, run_id: str | None = None) -> VideoRecord:
        """``uploaded | processing -> failed`` with a reason (also updates the reason of a failed video).

        The previous outputs of a ``ready`` video being re-run stay recorded; only
        :func:`mark_ready` replaces them.
        """
        reason = (reason or "").strip()
        if not reason:
            raise InvalidCatalogData("mark_failed needs a reason")
        if len(reason) > MAX_ERROR:
            reason = reason[: MAX_ERROR - 15] + " …(truncated)"
        with db.transaction(self.url) as s:
            v = self._locked(s, video_id)
            if v.status is not S.FAILED:
                self._check(v, S.FAILED, "mark failed")
            if run_id is not None and v.last_run_id not in (None, run_id):
                raise IllegalTransition(video_id, v.status, S.FAILED, "mark failed",
                                        f"run {run_id!r} is stale: run {v.last_run_id!r} owns the video")
            v.status, v.error, v.updated_at = S.FAILED, reason, utcnow()
            s.flush()
            return VideoRecord.of(v)

    def requeue(self, video_id: str) -> VideoRecord:
        """``failed -> uploaded`` (error cleared): used before re-publishing an ingest request."""
        with db.transaction(self.url) as s:
            v = self._locked(s, video_id)
            self._check(v, S.UPLOADED, "requeue")
            v.status, v.error, v.updated_at = S.UPLOADED, None, utcnow()
            s.flush()
            return VideoRecord.of(v)

    def delete_video(self, video_id: str) -> None:
        """Remove a row (and its renditions). Used to compensate a failed upload; not a user API."""
        with db.transaction(self.url) as s:
            s.execute(sa.delete(Rendition).where(Rendition.video_id == video_id))
            if s.execute(sa.delete(Video).where(Video.id == video_id)).rowcount == 0:
                raise VideoNotFound(video_id)

    # -- reads -----------------------------------------------------------------------
    def get_video(self, video_id: str) -> VideoRecord:
        """The video and its renditions; :class:`VideoNotFound` if there is none."""
        try:
            uuid.UUID(video_id)
        except (ValueError, TypeError, AttributeError):
            raise VideoNotFound(video_id) from None
        with db.transaction(self.url, write=False) as s:
            v = s.execute(sa.select(Video).options(selectinload(Video.renditions))
                          .where(Video.id == video_id)).scalar_one_or_none()
            if v is None:
                raise VideoNotFound(video_id)
            return VideoRecord.of(v)

    def list_videos(self, status: VideoStatus | str | None = None, *, limit: int = 100,
                    offset: int = 0) -> list[VideoRecord]:
        """Videos, newest first, optionally of one status."""
        q = sa.select(Video).options(selectinload(Video.renditions))
        if status is not None:
            try:
                q = q.where(Video.status == VideoStatus(status))
            except ValueError:
                raise InvalidCatalogData(
                    f"unknown status {status!r}; use one of {[s.value for s in VideoStatus]}") from None
        q = q.order_by(Video.created_at.desc(), Video.id).limit(max(0, limit)).offset(max(0, offset))
        with db.transaction(self.url, write=False) as s:
            return [VideoRecord.of(v) for v in s.execute(q).scalars()]

    def ping(self) -> None:
        with db.get_engine(self.url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))


# ----------------------------------------------------------------------------- module API
@lru_cache(maxsize=8)
def _catalog(url: str) -> Catalog:
    return Catalog(url)


def get_catalog(db_url: str | None = None) -> Catalog:
    """The catalog at ``db_url`` (default ``VODFLOW_CATALOG_DB_URL``), schema upgraded on first use."""
    if db_url is None:
        from vodflow.settings import get_settings

        db_url = get_settings().catalog_db_url
    return _catalog(db.normalize_url(db_url))


def create_video(title: str, source_key: str, regions: str | Iterable[str] | None = (), *,
                 video_id: str | None = None, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).create_video(title, source_key, regions, video_id=video_id)


def start_processing(video_id: str, run_id: str, *, force: bool = False, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).start_processing(video_id, run_id, force=force)


def mark_ready(video_id: str, renditions: Sequence[RenditionInfo | Mapping[str, Any]], manifests: Mapping[str, str],
               thumbnails: Mapping[str, Any] | None = None, source_props: Mapping[str, Any] | Any | None = None, *,
               run_id: str | None = None, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).mark_ready(video_id, renditions, manifests, thumbnails, source_props, run_id=run_id)


def mark_failed(video_id: str, reason: str, *, run_id: str | None = None, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).mark_failed(video_id, reason, run_id=run_id)


def requeue(video_id: str, *, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).requeue(video_id)


def get_video(video_id: str, *, db_url: str | None = None) -> VideoRecord:
    return get_catalog(db_url).get_video(video_id)


def list_videos(status: VideoStatus | str | None = None, *, limit: int = 100, offset: int = 0,
                db_url: str | None = None) -> list[VideoRecord]:
    return get_catalog(db_url).list_videos(status, limit=limit, offset=offset)


__all__ = [
    "Catalog", "CatalogError", "IllegalTransition", "InvalidCatalogData", "RenditionInfo", "TRANSITIONS",
    "VideoNotFound", "VideoRecord", "VideoStatus", "create_video", "get_catalog", "get_video", "list_videos",
    "mark_failed", "mark_ready", "normalize_regions", "requeue", "start_processing",
]
