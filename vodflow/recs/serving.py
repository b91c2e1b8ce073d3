"""Recommendation serving (no Spark, no HTTP: numpy over the exported factors): :class:`RecsService`.

Business rules, applied at request time on top of the model's ranking:

* only titles that are ``ready`` in the catalog;
* only titles available in the viewer's region: the account's country (the routes decide it; the
  same rule /play enforces), deliberately not taken from watch history.  Without a region
  (anonymous ``similar``, unknown accounts) only worldwide titles (empty ``regions`` in the
  catalog) are returned, the only set that is safe everywhere;
* nothing the user has already watched (every completed title included) as of the
  snapshot the serving bundle was built from; the ``similar`` list also drops the seed
  and, with ``user_id``, that user's watched titles.

Users the model does not know (new accounts, or a user id never seen) are not an error:
they get the cold-start list, ``strategy="popular"``: titles by unique viewers over the last
28 days of the gold ``title_daily`` table; if that table does not exist yet, by interactions
in the snapshot.  A video id that is in neither the catalog nor the model gives None (a 404 over HTTP).

Where the pieces live: the served model and its hot swap in :mod:`vodflow.recs.bundle` (polls the
registered model tag ``vodflow.serving_bundle`` at most every ``refresh_seconds``; a swap clears the
response cache -- its keys also carry the bundle id, so no stale answer can survive a swap); the ready
catalog and popularity in :mod:`vodflow.recs.serving_data`; the HTTP routes in :mod:`vodflow.recs.routes`.

Cache: whole responses per (bundle, user or video, region, limit), in Redis when
``VODFLOW_REDIS_URL`` is set (shared by every API replica) or an in-process TTL + LRU cache
(vodflow/recs/response_cache.py); ``X-Cache: hit|miss`` says which.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from vodflow.recs.background import refresh_in_background
from vodflow.recs.bundle import Bundle, BundleWatcher
from vodflow.recs.serving_data import (CatalogSnapshot, interaction_popularity, load_catalog_snapshot,
                                       title_popularity)
from vodflow.settings import Settings

log = logging.getLogger("vodflow.api.recs")
MAX_MASKS = 64
"""Eligibility masks memoised (bundle x catalog snapshot x region; ~1 byte per model title each)."""


# ----------------------------------------------------------------------------- the service
class RecsService:
    """Loads bundle, catalog and popularity lazily, applies the rules, caches responses."""

    def __init__(self, settings: Settings, model_name: str | None = None, *, refresh_seconds: float = 30.0,
                 cache_ttl: float = 60.0, cache_size: int = 10_000, catalog_ttl: float = 30.0,
                 popularity_ttl: float = 600.0, catalog_url: str | None = None):
        from vodflow.recs.registry import MODEL_NAME
        from vodflow.recs.response_cache import make_cache

        self.s = settings
        self.model_name = model_name or settings["VODFLOW_RECS_MODEL"] or MODEL_NAME
        self.catalog_ttl = catalog_ttl
        self.popularity_ttl = popularity_ttl
        self.catalog_url = catalog_url or settings.catalog_db_url
        self.cache = make_cache(settings, cache_ttl, cache_size)   # Redis if VODFLOW_REDIS_URL, else in-process
        self.watcher = BundleWatcher(settings, self.model_name, refresh_seconds, on_swap=self._on_swap)
        self._data_lock = threading.Lock()
        self._catalog: CatalogSnapshot | None = None
        self._popular: tuple[float, list[str], str] | None = None
        self._masks: dict[tuple, np.ndarray] = {}
        self._catalog_lock = threading.Lock()
        self._popular_lock = threading.Lock()
        self._catalog_retry_at = 0.0

    # -- bundle (loading and swapping: vodflow.recs.bundle) --------------------------------
    @property
    def bundle(self) -> Bundle | None:
        return self.watcher.bundle

    @property
    def champion(self) -> str | None:
        return self.watcher.champion

    @property
    def last_error(self) -> str | None:
        return self.watcher.last_error

    def refresh(self, force: bool = False) -> Bundle | None:
        """The bundle to serve (polls the registry at most every ``refresh_seconds``)."""
        return self.watcher.refresh(force)

    def _on_swap(self, new: Bundle, old: Bundle | None) -> None:
        if old is not None:
            # a new champion: drop the cached answers (every replica's, with Redis). Keys carry the bundle
            # key too, so a replica that has not refreshed yet cannot serve the new champion's entries as
            # its own, nor the old ones to a refreshed replica. A process's first load clears nothing.
            self.cache.clear()
        with self._data_lock:
            stale = self._popular is not None and self._popular[2] == "interactions"
        if stale:  # popularity came from the previous bundle: recomputed here, in the poll's thread
            try:
                self._load_popular()
            except Exception as e:  # noqa: BLE001
                log.warning("recs: cannot recompute popularity: %s", e)
                with self._data_lock:
                    self._popular = None
        snap = self._catalog
        if snap is not None:  # in the poll's thread: the new bundle's masks before a request needs them
            self._warm_masks(new, snap)

    # -- catalog / popularity ------------------------------------------------------------
    def catalog(self) -> CatalogSnapshot:
        """The ready catalog, re-read every ``catalog_ttl`` seconds.  Once a snapshot is loaded the
        re-read (and the eligibility masks of the regions in use) runs in a background thread and
        requests keep the current snapshot meanwhile; ``catalog_ttl == 0`` re-reads in the caller."""
        snap = self._catalog
        now = time.monotonic()
        if snap is not None and now - snap.loaded_at <= self.catalog_ttl:
            return snap
        if snap is not None and self.catalog_ttl > 0:
            if now >= self._catalog_retry_at:
                refresh_in_background(self._catalog_lock, "recs-catalog", lambda: self._reload_catalog(True))
            return snap
        with self._catalog_lock:
            return self._reload_catalog(False)

    def _reload_catalog(self, background: bool) -> CatalogSnapshot | None:
        try:
            snap = load_catalog_snapshot(self.catalog_url)
            b = self.bundle
            if b is not None:  # the masks of the regions in use, before requests see the snapshot
                self._warm_masks(b, snap)
            self._catalog = snap
            return snap
        except Exception as e:  # noqa: BLE001 - in the background: keep the snapshot being served
            if not background:
                raise
            log.warning("recs: cannot re-read the catalog (keeping the snapshot loaded %.0f s ago): %s",
                        time.monotonic() - self._catalog.loaded_at, e)
            self._catalog_retry_at = time.monotonic() + self.catalog_ttl
            return None

    def _warm_masks(self, b: Bundle, snap: CatalogSnapshot) -> None:
        with self._data_lock:
            regions = {k[2] for k in self._masks}
        for region in regions:
            self._eligible_mask(b, snap, region)

    def popular(self) -> tuple[list[str], str]:
        """Cold-start order and where it came from (``title_daily`` / ``interactions`` / ``none``).
        Re-read every ``popularity_ttl`` seconds, in a background thread once loaded (as the catalog)."""
        with self._data_lock:
            p = self._popular
        if p is not None and time.monotonic() - p[0] < self.popularity_ttl:
            return p[1], p[2]
        if p is not None and self.popularity_ttl > 0:
            refresh_in_background(self._popular_lock, "recs-popular", self._load_popular)
            return p[1], p[2]
        return self._load_popular()

    def _load_popular(self) -> tuple[list[str], str]:
        order, source = None, "none"
        try:
            order = title_popularity(self.s)
            source = "title_daily"
        except Exception as e:  # noqa: BLE001 - an unreadable gold table must not break serving
            log.warning("recs: cannot read title popularity: %s", e)
        if order is None:
            b = self.bundle
            if b is not None:
                m = b.model
                order = m.item_ids[np.lexsort((np.arange(len(m.item_ids)), -m.item_popularity))].astype(str).tolist()
            else:
                try:
                    order = interaction_popularity(self.s)
                except Exception as e:  # noqa: BLE001
                    log.warning("recs: cannot read interactions: %s", e)
            source = "interactions" if order is not None else "none"
        order = order or []
        with self._data_lock:
            self._popular = (time.monotonic(), order, source)
        return order, source

    def ready(self) -> bool:
        """True when a request needs no I/O: bundle, catalog and popularity loaded, each refreshed in
        the background, and the in-process cache.  The routes then answer on the event loop (about a
        millisecond of numpy) instead of a thread-pool hop; otherwise they call :meth:`warm` first."""
        return (self.watcher.bundle is not None and self._catalog is not None and self._popular is not None
                and min(self.watcher.refresh_seconds, self.catalog_ttl, self.popularity_ttl) > 0
                and self.cache.kind == "local")

    def warm(self) -> None:
        """Load what is not loaded yet of bundle, catalog and popularity (blocking: run it in a worker thread)."""
        if self.watcher.bundle is None:
            self.refresh()
        if self._catalog is None:
            self.catalog()
        if self._popular is None:
            self.popular()

    # -- ranking -------------------------------------------------------------------------
    def _eligible_mask(self, b: Bundle, snap: CatalogSnapshot, region: str | None) -> np.ndarray:
        """Model titles that are ready and available in ``region`` (a fresh copy; memoised per
        bundle, catalog snapshot and region, so a request does not loop over the catalog)."""
        key = (b.key, snap.loaded_at, region)
        with self._data_lock:
            memo = self._masks.get(key)
        if memo is None:
            memo = np.fromiter((snap.available(v, region) for v in b.model.item_ids.tolist()), dtype=bool,
                               count=len(b.model.item_ids))
            with self._data_lock:
                if len(self._masks) >= MAX_MASKS:
                    self._masks.clear()  # older bundles' and snapshots' masks are dead; the live ones come back
                self._masks[key] = memo
        return memo.copy()

    def _seen(self, b: Bundle | None, user_id: str | None) -> set[str]:
        if b is None or user_id is None:
            return set()
        row = b.model.user_row(user_id)
        if row is None:
            return set()
        return set(b.model.item_ids[b.seen_rows(row)].astype(str).tolist())

    def _pad_popular(self, items: list[dict], limit: int, snap: CatalogSnapshot, region: str | None,
                     skip: set[str]) -> list[dict]:
        if len(items) >= limit:
            return items
        have = {i["video_id"] for i in items} | skip
        order, _ = self.popular()
        for v in order:
            if len(items) >= limit:
                break
            if v not in have and snap.available(v, region):
                items.append({"video_id": v, "score": None, "source": "popular"})
                have.add(v)
        return items

    def _titled(self, items: list[dict], snap: CatalogSnapshot) -> list[dict]:
        for rank, it in enumerate(items, start=1):
            it["rank"] = rank
            it["title"] = snap.titles[it["video_id"]][0]
        return items

    def _top(self, scores: np.ndarray, mask: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Best ``limit`` rows of ``scores`` (a fresh array: negated in place) where ``mask``."""
        neg = np.negative(scores, out=scores)
        neg[~mask] = np.inf
        n = int(min(limit, int(np.count_nonzero(mask))))
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        part = np.argpartition(neg, n - 1)[:n] if n < len(neg) else np.arange(len(neg))
        order = part[np.lexsort((part, neg[part]))]
        return order, -neg[order]

    def _ranked(self, b: Bundle, scores: np.ndarray, mask: np.ndarray, limit: int) -> list[dict]:
        """The best ``limit`` model titles allowed by ``mask``, as response items."""
        idx, sc = self._top(scores, mask, limit)
        names = b.item_names
        return [{"video_id": names[i], "score": v, "source": "als"} for i, v in zip(idx.tolist(), sc.tolist())]

    def recommend(self, user_id: str, region: str | None, limit: int) -> dict[str, Any]:
        b = self.refresh()
        snap = self.catalog()
        row = b.model.user_row(user_id) if b is not None else None
        items: list[dict] = []
        if b is not None and row is not None:
            mask = self._eligible_mask(b, snap, region)
            mask[b.seen_rows(row)] = False
            items = self._ranked(b, b.model.item_factors @ b.model.user_factors[row], mask, limit)
            strategy = "personalized"
        else:
            strategy = "popular"
        if len(items) < limit:  # the seen set (as ids) only matters for padding
            items = self._pad_popular(items, limit, snap, region, self._seen(b, user_id))
        return {"user_id": user_id, "region": region, "strategy": strategy,
                "model_name": self.model_name, "model_version": b.version if b is not None else None,
                "popularity_source": self.popular()[1] if strategy == "popular" or
                any(i["source"] == "popular" for i in items) else None,
                "items": self._titled(items, snap), "count": len(items)}

    def similar(self, video_id: str, region: str | None, limit: int, user_id: str | None) -> dict[str, Any] | None:
        """None when the video is in neither the catalog nor the model."""
        b = self.refresh()
        snap = self.catalog()
        row = b.item_row.get(video_id) if b is not None else None
        if row is None and video_id not in snap.titles:
            from vodflow.catalog import VideoNotFound, get_catalog

            try:
                get_catalog(self.catalog_url).get_video(video_id)
            except VideoNotFound:
                return None
        seen = self._seen(b, user_id) | {video_id}
        items: list[dict] = []
        if b is not None and row is not None:
            mask = self._eligible_mask(b, snap, region)
            mask[row] = False
            for v in seen:
                r = b.item_row.get(v)
                if r is not None:
                    mask[r] = False
            items = self._ranked(b, b.unit_items @ b.unit_items[row], mask, limit)
            strategy = "item_factors"
        else:
            strategy = "popular"
        items = self._pad_popular(items, limit, snap, region, seen)
        return {"video_id": video_id, "region": region, "user_id": user_id, "strategy": strategy,
                "model_name": self.model_name, "model_version": b.version if b is not None else None,
                "items": self._titled(items, snap), "count": len(items)}

    # -- cache -----------------------------------------------------------------------------
    def cached(self, key: tuple, compute) -> tuple[Any, bool]:
        b = self.refresh()
        full = ((b.key if b is not None else None),) + key
        hit = self.cache.get(full)
        if hit is not None:
            return hit, True
        value = compute()
        if value is not None:
            self.cache.set(full, value)
        return value, False
