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


@dataclass
class PrewarmResult:
    video_id: str
    requests: int = 0
    misses: int = 0                 # objects the prewarm brought into the edge
    hits: int = 0                   # already there
    errors: list[str] = field(default_factory=list)

    def count(self, status: str | None) -> None:
        self.requests += 1
        if status == "HIT":
            self.hits += 1
        else:
            self.misses += 1


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
                  segments: int | None = None, edge_base: str | None = None, client=None) -> PrewarmResult:
    """Warm the edge for one published title (``hls_key``/``dash_key``: the catalog's manifest keys)."""
    import httpx

    from vodflow.cdn.edge import edge_local_url
    from vodflow.cdn.signing import sign_prefix

    n = int(s["VODFLOW_EDGE_PREWARM_SEGMENTS"]) if segments is None else segments
    base = (edge_base or edge_local_url(s)).rstrip("/")
    signed = sign_prefix(s, f"/videos/{video_id}/", time.time() + SIGN_FOR_S)
    res = PrewarmResult(video_id)
    own = client is None
    http = client or httpx.Client(timeout=30)

    def url_of(key: str) -> str:
        return f"{base}/{key.lstrip('/')}"

    def request(method: str, url: str) -> httpx.Response | None:
        path = urlsplit(url).path
        try:
            r = http.request(method, f"{base}{path}?{signed.query}")
        except httpx.HTTPError as e:
            res.errors.append(f"{method} {path}: {type(e).__name__}: {e}")
            return None
        if r.status_code != 200:
            res.errors.append(f"{method} {path}: HTTP {r.status_code} {r.headers.get('X-Edge-Deny-Reason', '')}")
            return None
        res.count(r.headers.get("X-Cache-Status"))
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
