"""The edge policy: which titles the edge keeps long and fills ahead of demand, from what viewers watch.

Rules (issue 17; docs/playback.md "Popularity-driven edge"):

* **Popularity** of a title = its starts (``views`` of gold/title_hourly: sessions that started in the
  hour) over the last :data:`WINDOW_H` hours, each hour weighted by recency (half-life
  :data:`HALF_LIFE_H` h) and by how much of the title viewers finish (``0.5 + 0.5 * completion_rate``:
  a title people abandon is worth less cache than one they watch through).
* **Trending**: the latest hour has at least :data:`TREND_MIN_VIEWS` starts and at least
  :data:`TREND_FACTOR` times the hourly mean of the hours before it (the hours gold has, at least
  :data:`TREND_MIN_HISTORY_H` of them: without history a lake's first hours would make every title
  "trending"). A trending title is popular whatever its rank: it is about to be watched by many who
  have not watched it yet.
* **Popular** = trending titles + the ``VODFLOW_EDGE_POPULAR_TOP`` best scores (titles with no start in
  the window are never popular). Everything else is the **long tail**.
* **Cache lifetime**: a popular title's objects are fresh as long as the origin says (a year for the
  immutable segments); a long-tail title's only ``VODFLOW_EDGE_TAIL_TTL`` s, then the edge revalidates
  them with the origin (``X-Accel-Expires`` set by the edge's origin tap; a 304 costs no body). All titles
  share one cache (``VODFLOW_EDGE_CACHE_SIZE``, least recently used out first). Popular titles are
  filled ahead of demand (below). (Separate cache zones for popular titles and the tail were
  measured and dropped: splitting the capacity cost ~8 points of hit ratio, and a title promoted to
  the popular zone lost what was cached for it; docs/benchmarks-playback.md.)

* **Fill ahead of demand** (what Netflix's Open Connect does overnight; :func:`fill_plan`): the first
  request of an object is a miss on any cache, so a cache that only fills on demand stays below the
  share of requests that are repeats (docs/benchmarks-playback.md: 0.81 for the bench's workload even
  with unlimited capacity). After each policy the edge is filled, in this order, until the fill budget
  (``VODFLOW_EDGE_FILL_SHARE`` of ``VODFLOW_EDGE_CACHE_SIZE``) is spent: the popular titles whole (every
  playlist, init segment and segment of every rung), then the other titles watched in the window,
  hottest first, whole (a title watched in the last day is likely watched again), then the first
  seconds (``VODFLOW_EDGE_PREWARM_SEGMENTS`` segments per rung, playlists, init segments) of every
  other ready title, newest first (a first viewer of anything starts from the edge). The rest of the
  cache is for what viewers fetch on demand. The edge must be sized for it: a cache smaller than the
  watched part of the catalog evicts what was filled (measured: docs/benchmarks-playback.md).

How it reaches nginx: ``$VODFLOW_HOME/edge/policy/titles.map`` (an nginx ``map`` body: ``default tail;``
and ``"<video id>" popular;`` per popular title, included by the edge config) is replaced atomically,
then ``nginx -s reload``: the master re-reads its config and starts new workers while the old ones
finish their requests (no restart, no dropped connection, the cache stays). Without a policy the
file says ``default popular;`` (every title kept as the origin says: the static edge). ``policy.json``
beside it is what ``vodflow edge policy`` shows. The policy only sets a freshness: every request still
needs its signature (``auth_request`` runs first).

Pure core (:func:`score_titles`, :func:`choose`, :func:`render_map`, :func:`fill_plan`) behind a thin
adapter (:func:`write_policy`, :func:`read_policy`, :func:`write_fill`; the reload is
:func:`vodflow.cdn.edge.reload_edge`, the fill :func:`vodflow.cdn.prewarm.fill`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from vodflow.settings import Settings

WINDOW_H = 24
HALF_LIFE_H = 6.0
TREND_FACTOR = 3.0
TREND_MIN_VIEWS = 10
TREND_MIN_HISTORY_H = 3
POPULAR, TAIL = "popular", "tail"
STATIC_MAP = f"# no edge policy yet: every title {POPULAR} (a static edge)\ndefault {POPULAR};\n"
_VIDEO_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class EdgePolicyError(RuntimeError):
    pass


@dataclass(frozen=True)
class HourViews:
    """One row of gold/title_hourly, as the policy reads it."""

    video_id: str
    hour: datetime
    views: int
    completions: int = 0


@dataclass(frozen=True)
class TitleHeat:
    video_id: str
    score: float
    views_window: int
    views_last_hour: int
    completion_rate: float
    trending: bool


@dataclass(frozen=True)
class EdgePolicy:
    generated_at: str
    as_of_hour: str | None
    top_n: int
    tail_ttl_s: int
    popular: list[TitleHeat] = field(default_factory=list)
    tail_titles: int = 0                      # titles with starts in the window that are not popular
    watched: list[str] = field(default_factory=list)   # those titles, hottest first (filled after the popular)

    @property
    def popular_ids(self) -> list[str]:
        return [h.video_id for h in self.popular]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EdgePolicy:
        return cls(**{**d, "popular": [TitleHeat(**h) for h in d.get("popular", [])]})


# ----------------------------------------------------------------------------- pure core
def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def score_titles(rows: Iterable[HourViews], now: datetime, *, window_h: int = WINDOW_H,
                 half_life_h: float = HALF_LIFE_H) -> list[TitleHeat]:
    """Every title with a start in the ``window_h`` hours before ``now``, hottest first."""
    now = _utc(now)
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=window_h - 1)
    by_title: dict[str, dict[datetime, tuple[int, int]]] = {}
    for r in rows:
        h = _utc(r.hour).replace(minute=0, second=0, microsecond=0)
        if start <= h <= current and r.views > 0:
            v, c = by_title.setdefault(r.video_id, {}).get(h, (0, 0))
            by_title[r.video_id][h] = (v + int(r.views), c + int(r.completions or 0))
    latest = max((h for hours in by_title.values() for h in hours), default=current)
    first = min((h for hours in by_title.values() for h in hours), default=current)
    history_h = min(window_h - 1, int((latest - first).total_seconds() // 3600))   # hours gold has before latest
    heats = []
    for vid, hours in by_title.items():
        score = 0.0
        for h, (v, c) in hours.items():
            age_h = (current - h).total_seconds() / 3600
            score += v * 0.5 ** (age_h / half_life_h) * (0.5 + 0.5 * min(1.0, c / v))
        views = sum(v for v, _ in hours.values())
        last = hours.get(latest, (0, 0))[0]
        before = [hours.get(latest - timedelta(hours=i), (0, 0))[0] for i in range(1, history_h + 1)]
        mean_before = sum(before) / len(before) if before else 0.0
        trending = (history_h >= TREND_MIN_HISTORY_H and last >= TREND_MIN_VIEWS
                    and last >= TREND_FACTOR * max(mean_before, 1e-9))
        rate = sum(c for _, c in hours.values()) / views
        heats.append(TitleHeat(vid, round(score, 3), views, last, round(rate, 3), trending))
    heats.sort(key=lambda h: (-h.score, h.video_id))
    return heats


def choose(heats: list[TitleHeat], top_n: int, *, tail_ttl_s: int, now: datetime,
           as_of_hour: datetime | None = None) -> EdgePolicy:
    """Trending titles first, then the ``top_n`` best scores."""
    if top_n < 0:
        raise EdgePolicyError("VODFLOW_EDGE_POPULAR_TOP must be 0 or more")
    trending = [h for h in heats if h.trending]
    best = [h for h in heats if not h.trending][:top_n]
    popular = sorted(trending, key=lambda h: -h.views_last_hour) + best
    return EdgePolicy(generated_at=_utc(now).isoformat(timespec="seconds"),
                      as_of_hour=as_of_hour.isoformat() if as_of_hour else None, top_n=top_n,
                      tail_ttl_s=tail_ttl_s, popular=popular, tail_titles=len(heats) - len(popular),
                      watched=[h.video_id for h in heats if h not in popular])


@dataclass(frozen=True)
class FillItem:
    """One title of the fill, in fill order."""

    video_id: str
    segments: int | None          # media segments per playlist; None = every one (the whole title)
    why: str                      # popular | watched | first seconds


def fill_plan(policy: EdgePolicy, ready_ids: Iterable[str], first_segments: int) -> list[FillItem]:
    """What the edge is filled with after ``policy``, most wanted first (the budget cuts the end).

    ``ready_ids``: the catalog's ready titles, newest first (titles the policy names that are not ready
    are left out: there is nothing to fill)."""
    ready = list(dict.fromkeys(ready_ids))
    known = set(ready)
    plan = [FillItem(v, None, "popular") for v in policy.popular_ids if v in known]
    plan += [FillItem(v, None, "watched") for v in policy.watched if v in known]
    done = {i.video_id for i in plan}
    plan += [FillItem(v, first_segments, "first seconds") for v in ready if v not in done]
    return plan


_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)\s*$", re.I)


def size_bytes(text: str) -> int:
    """An nginx size (``2g``, ``512m``, ``64k``, ``1000``) in bytes."""
    m = _SIZE.match(text or "")
    if not m:
        raise EdgePolicyError(f"{text!r} is not a size like 2g, 512m or 64k (VODFLOW_EDGE_CACHE_SIZE)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2).lower()]


def fill_budget(s: Settings) -> int:
    """Bytes the fill may put into the edge: ``VODFLOW_EDGE_FILL_SHARE`` of ``VODFLOW_EDGE_CACHE_SIZE``."""
    share = float(s["VODFLOW_EDGE_FILL_SHARE"])
    if not 0 <= share <= 1:
        raise EdgePolicyError(f"VODFLOW_EDGE_FILL_SHARE={share} must be between 0 and 1 (e.g. 0.5)")
    return int(share * size_bytes(s["VODFLOW_EDGE_CACHE_SIZE"]))


def render_map(policy: EdgePolicy) -> str:
    """The body of nginx's ``map $policy_title $edge_class`` for ``policy``."""
    lines = [f"# edge policy {policy.generated_at}: {len(policy.popular)} popular titles "
             f"({sum(h.trending for h in policy.popular)} trending); the rest is the long tail",
             f"default {TAIL};"]
    for h in policy.popular:
        if not _VIDEO_ID.match(h.video_id):   # ids come from the lake: never let one break the config
            raise EdgePolicyError(f"video id {h.video_id!r} cannot be written into the edge policy")
        lines.append(f'"{h.video_id}" {POPULAR};')
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- files and nginx
def policy_dir(s: Settings) -> Path:
    return s.home / "edge" / "policy"


def map_file(s: Settings) -> Path:
    return policy_dir(s) / "titles.map"


def json_file(s: Settings) -> Path:
    return policy_dir(s) / "policy.json"


def fill_file(s: Settings) -> Path:
    return policy_dir(s) / "fill.json"


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def ensure_policy_file(s: Settings) -> Path:
    """The map file nginx includes; "every title popular" (a static edge) when there is no policy yet."""
    f = map_file(s)
    if not f.exists():
        _replace(f, STATIC_MAP)
    return f


def write_policy(s: Settings, policy: EdgePolicy) -> Path:
    """Replace the map and the JSON of the policy in force (each atomically; the map last)."""
    text = render_map(policy)
    _replace(json_file(s), json.dumps(policy.to_dict(), indent=1) + "\n")
    _replace(map_file(s), text)
    return map_file(s)


def clear_policy(s: Settings) -> None:
    """Back to the static edge (every title kept as the origin says)."""
    json_file(s).unlink(missing_ok=True)
    fill_file(s).unlink(missing_ok=True)
    _replace(map_file(s), STATIC_MAP)


def write_fill(s: Settings, summary: dict[str, Any]) -> None:
    """What the last fill did (``vodflow edge policy`` shows it)."""
    _replace(fill_file(s), json.dumps(summary, indent=1) + "\n")


def read_fill(s: Settings) -> dict[str, Any] | None:
    try:
        return json.loads(fill_file(s).read_text())
    except FileNotFoundError:
        return None


def read_policy(s: Settings) -> EdgePolicy | None:
    try:
        return EdgePolicy.from_dict(json.loads(json_file(s).read_text()))
    except FileNotFoundError:
        return None
