"""Prewarm the edge with what a player asks for first: playlists, init segments, the first segments.

Rules (docs/playback.md "Popularity-driven edge"):

* Prewarming goes through the edge's public, **signed** path, like a player: a policy for the title's
  prefix is signed with the CDN key (as ``/play`` does) and every object is requested from the edge
  with it. Nothing is opened to unsigned requests; no internal route is needed.
* What: the HLS master playlist and the DASH manifest, every media playlist of the master (each video
  rung, each audio rendition, the I-frame playlists), each playlist's init segment (``EXT-X-MAP``) and
  its first ``VODFLOW_EDGE_PREWARM_SEGMENTS`` media segments: what a player needs for its first
  seconds on whichever rung its ABR starts and switches to. The ClearKey license comes from the API,
  not the edge, so there is no key material to warm.
* A fill (:func:`fill`) walks a plan (vodflow/cdn/policy.py ``fill_plan``: whole titles or their first
  segments, most wanted first) and stops when the bytes it has put into the edge reach its budget
  (``Content-Length`` of each answer, whether the edge had the object already or fetched it).
* A request on a kept-alive connection that the edge closed meanwhile (a worker shutting down after a
  reload, the keep-alive timeout) is sent once more on a new connection: GET and HEAD are idempotent,
  which is what makes that retry safe (RFC 9110 9.2.2).
* Segments are requested with ``HEAD``: nginx fills its cache with a full ``GET`` to the origin
  (``proxy_cache_convert_head``) and sends only the headers back, so a prewarm moves each object
  once, origin -> edge. Playlists are fetched with ``GET`` (they are parsed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from vodflow.settings import Settings

SIGN_FOR_S = 600
CACHED = {"HIT", "REVALIDATED", "STALE", "UPDATING"}   # the edge had it (a revalidation is a 304, no body)


@dataclass
class PrewarmResult:
    video_id: str
    requests: int = 0
    misses: int = 0                 # objects the prewarm brought into the edge
    hits: int = 0                   # already there
    bytes: int = 0                  # size of the objects warmed (hits included: they occupy the cache too)
    filled_bytes: int = 0           # of which the edge fetched from the origin now
    errors: list[str] = field(default_factory=list)

    def count(self, status: str | None, size: int = 0) -> None:
        self.requests += 1
        self.bytes += size
        if status in CACHED:
            self.hits += 1
        else:
            self.misses += 1
            self.filled_bytes += size


@dataclass
class Budget:
    """Bytes a fill may still put into the edge."""

    left: int

    def spend(self, n: int) -> None:
        self.left -= n

    @property
    def spent_up(self) -> bool:
        return self.left <= 0


def _paths(base: str, playlist_url: str, text: str, segments: int) -> tuple[list[str], list[str]]:
    """(child playlists, objects to warm) of one HLS playlist, as absolute edge URLs without query."""
    import m3u8

    pl = m3u8.loads(text)
    if pl.is_variant:
        children = [p.uri for p in pl.playlists] + [m.uri for m in pl.media if m.uri] + \
                   [p.uri for p in pl.iframe_playlists]
        return [urljoin(playlist_url, u) for u in dict.fromkeys(children)], []
    objects = [sm.uri for sm in (pl.segment_map or []) if sm.uri]
    objects += [seg.uri for seg in pl.segments[:segments]]
    return [], [urljoin(playlist_url, u) for u in dict.fromkeys(objects)]


def prewarm_title(s: Settings, video_id: str, hls_key: str | None, dash_key: str | None = None, *,
                  segments: int | None = None, whole: bool = False, budget: Budget | None = None,
                  edge_base: str | None = None, client=None) -> PrewarmResult:
    """Warm the edge for one published title (``hls_key``/``dash_key``: the catalog's manifest keys):
    its first ``segments`` media segments per playlist (``VODFLOW_EDGE_PREWARM_SEGMENTS``), or every
    one with ``whole``; with a ``budget``, stop once it is spent."""
    import httpx

    from vodflow.cdn.edge import edge_local_url
    from vodflow.cdn.signing import sign_prefix

    n = int(s["VODFLOW_EDGE_PREWARM_SEGMENTS"]) if segments is None else segments
    if whole:
        n = 1 << 30
    base = (edge_base or edge_local_url(s)).rstrip("/")
    signed = sign_prefix(s, f"/videos/{video_id}/", time.time() + SIGN_FOR_S)
    res = PrewarmResult(video_id)
    own = client is None
    http = client or httpx.Client(timeout=30)

    def url_of(key: str) -> str:
        return f"{base}/{key.lstrip('/')}"

    def request(method: str, url: str) -> httpx.Response | None:
        if budget is not None and budget.spent_up:
            return None
        path = urlsplit(url).path
        try:
            try:
                r = http.request(method, f"{base}{path}?{signed.query}")
            except httpx.RemoteProtocolError:   # a kept-alive connection the edge closed as it was reused
                r = http.request(method, f"{base}{path}?{signed.query}")
        except httpx.HTTPError as e:
            res.errors.append(f"{method} {path}: {type(e).__name__}: {e}")
            return None
        if r.status_code != 200:
            res.errors.append(f"{method} {path}: HTTP {r.status_code} {r.headers.get('X-Edge-Deny-Reason', '')}")
            return None
        size = int(r.headers.get("Content-Length") or len(r.content))
        res.count(r.headers.get("X-Cache-Status"), size)
        if budget is not None:
            budget.spend(size)
        return r

    try:
        if dash_key:
            request("GET", url_of(dash_key))
        todo = [url_of(hls_key)] if hls_key else []
        seen: set[str] = set()
        while todo:
            playlist = todo.pop(0)
            if playlist in seen:
                continue
            seen.add(playlist)
            r = request("GET", playlist)
            if r is None:
                continue
            children, objects = _paths(base, playlist, r.text, n)
            todo += children
            for obj in objects:
                request("HEAD", obj)
    finally:
        if own:
            http.close()
    return res


def fill(s: Settings, plan, manifests: dict[str, tuple[str | None, str | None]], budget_bytes: int, *,
         edge_base: str | None = None, client=None) -> dict:
    """Fill the edge along ``plan`` (``FillItem``s, most wanted first) until ``budget_bytes`` are in it.

    ``manifests``: video id -> (HLS master key, DASH manifest key) of the ready titles. Returns a summary
    (what ``vodflow edge policy`` shows): budget, bytes warmed and fetched, titles per kind, errors."""
    import httpx

    budget = Budget(budget_bytes)
    own = client is None
    http = client or httpx.Client(timeout=30)
    out = {"budget_bytes": budget_bytes, "bytes": 0, "filled_bytes": 0, "objects_filled": 0, "titles": {},
           "cut_at": None, "errors": []}
    try:
        for item in plan:
            if budget.spent_up:
                out["cut_at"] = item.video_id
                break
            hls, dash = manifests[item.video_id]
            r = prewarm_title(s, item.video_id, hls, dash, segments=item.segments, whole=item.segments is None,
                              budget=budget, edge_base=edge_base, client=http)
            out["bytes"] += r.bytes
            out["filled_bytes"] += r.filled_bytes
            out["objects_filled"] += r.misses
            out["titles"][item.why] = out["titles"].get(item.why, 0) + 1
            out["errors"] += [f"{item.video_id}: {e}" for e in r.errors[:2]]
    finally:
        if own:
            http.close()
    out["errors"] = out["errors"][:10]
    return out
