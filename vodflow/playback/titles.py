"""What ``GET /videos/{id}/play`` reads, cached: ready titles from the catalog and each title's signature.

Both caches refresh ahead (:mod:`vodflow.playback.refresh_ahead`), so after a title's first request no
request waits for the catalog or for RSA; :mod:`vodflow.playback.routes` is the HTTP side.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import sqlalchemy as sa

from vodflow.catalog import db
from vodflow.catalog.models import Video, VideoStatus
from vodflow.cdn.signing import SignedQuery, sign_prefix
from vodflow.playback.refresh_ahead import RefreshAhead
from vodflow.settings import Settings

TITLE_TTL_S = 10.0
TITLE_MAX_STALE_S = 120.0
EXPIRY_STEP_S = 300
_VIDEOS = Video.__table__
_TITLE = sa.select(_VIDEOS.c.id, _VIDEOS.c.status, _VIDEOS.c.regions, _VIDEOS.c.hls_master_key,
                   _VIDEOS.c.dash_mpd_key).where(_VIDEOS.c.id == sa.bindparam("vid"))


@dataclass(frozen=True)
class Title:
    id: str
    status: VideoStatus
    regions: tuple[str, ...]
    hls_key: str | None
    dash_key: str | None
    kids: tuple[str, ...] = ()

    def available_in(self, country: str) -> bool:
        return not self.regions or country in self.regions


class Titles:
    """Catalog reads of /play: one Core SELECT by primary key; ready titles cached, refreshed ahead.

    A ready title is served from memory; once it is :data:`TITLE_TTL_S` old the next request still
    gets it and queues one background re-read (``refresh_ahead``), so no request waits for the
    catalog after the first. An entry not refreshed for :data:`TITLE_MAX_STALE_S` (an idle title) is
    read again on request. A title that is no longer ready (or gone) leaves the cache on its re-read.
    """

    def __init__(self, s: Settings, ttl_s: float = TITLE_TTL_S, max_stale_s: float = TITLE_MAX_STALE_S):
        self.s = s
        self._keystore = None
        self._engine = None
        self._cache: RefreshAhead[str, Title] = RefreshAhead(
            self._read, fresh=lambda t, age: age < ttl_s, usable=lambda t, age: age < max(ttl_s, max_stale_s),
            keep=lambda t: t.status is VideoStatus.READY)

    def _kids(self, video_id: str) -> tuple[str, ...]:
        if self._keystore is None:
            from vodflow.drm.keystore import KeyStore

            self._keystore = KeyStore(self.s)
        return tuple(self._keystore.kids(video_id))

    def _read(self, video_id: str) -> Title | None:
        if self._engine is None:
            db.ensure_schema(self.s.catalog_db_url)  # once per process and URL
            self._engine = db.get_engine(self.s.catalog_db_url)
        with self._engine.connect() as conn:
            row = conn.execute(_TITLE, {"vid": video_id}).first()
        if row is None:
            return None
        status = VideoStatus(row.status)
        kids = self._kids(video_id) if status is VideoStatus.READY else ()
        return Title(row.id, status, tuple(row.regions or ()), row.hls_master_key, row.dash_mpd_key, kids)

    def cached(self, video_id: str) -> Title | None:
        """The cached ready title, or None (no I/O: safe on the event loop)."""
        return self._cache.peek(video_id)

    def get(self, video_id: str) -> Title | None:
        """The title (cached if ready), reading the catalog if need be (blocking)."""
        return self._cache.get(video_id)

    def clear(self) -> None:
        self._cache.clear()


class Signatures:
    """Signed queries per title: expiries are rounded up to ``step_s``, so one RSA signature per title
    per step serves every request.

    A signature stays fresh while it still grants the full ``ttl_s``; in the next step it is still
    served (it grants at least ``ttl_s - step_s`` more) while the background thread signs the new
    step's. So no request waits for RSA except a title's very first (or one idle for a whole step).
    """

    def __init__(self, s: Settings, ttl_s: int, step_s: int = EXPIRY_STEP_S):
        self.s, self.ttl_s, self.step_s = s, ttl_s, step_s
        self._cache: RefreshAhead[str, SignedQuery] = RefreshAhead(
            self._sign, fresh=lambda q, age: q.expires_at >= time.time() + self.ttl_s,
            usable=lambda q, age: q.expires_at >= time.time() + self.ttl_s - self.step_s)

    def expiry(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return int(math.ceil((now + self.ttl_s) / self.step_s) * self.step_s)

    def _sign(self, video_id: str) -> SignedQuery:
        return sign_prefix(self.s, f"/videos/{video_id}/", self.expiry())

    def cached(self, video_id: str) -> SignedQuery | None:
        """A usable signed query, or None (no RSA work: safe on the event loop)."""
        return self._cache.peek(video_id)

    def get(self, video_id: str) -> SignedQuery:
        sq = self._cache.get(video_id)
        assert sq is not None
        return sq
