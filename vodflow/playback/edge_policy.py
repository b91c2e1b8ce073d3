"""Popularity -> edge: read gold, choose the edge policy, hand it to nginx, prewarm the popular titles.

The steps of the ``edge_policy`` DAG (dags/edge_policy.py), each usable alone:

1. :func:`hourly_views`: the last :data:`~vodflow.cdn.policy.WINDOW_H` hours of gold/title_hourly
   (starts and completions per title and hour; DuckDB over Delta, no JVM).
2. :func:`decide`: score them and choose the policy (vodflow/cdn/policy.py holds the rules).
3. :func:`apply`: write the map and reload the edge (no restart).
4. :func:`fill_edge`: fill the edge ahead of demand along the policy's fill plan (popular titles whole,
   the other watched titles whole, every other ready title's first seconds) until the fill budget is
   spent, through the signed edge path (vodflow/cdn/prewarm.py); :func:`prewarm` warms named titles.

The policy is a function of gold only (and the settings): running a step again with the same gold
writes the same policy, so a retried task is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from vodflow.analytics.tables import TITLE_HOURLY
from vodflow.cdn.edge import reload_edge
from vodflow.cdn.policy import (WINDOW_H, EdgePolicy, HourViews, choose, fill_budget, fill_plan, score_titles,
                                write_fill, write_policy)
from vodflow.settings import Settings


def hourly_views(s: Settings, now: datetime) -> list[HourViews]:
    """Starts and completions per title and hour in the window before ``now`` (empty when gold is empty)."""
    from vodflow.analytics.query import UnknownTableError, run_sql

    since = (now.astimezone(timezone.utc) - timedelta(hours=WINDOW_H)).replace(tzinfo=None)
    try:
        t = run_sql(f"SELECT video_id, hour, views, completions FROM {TITLE_HOURLY.name} "
                    "WHERE hour >= $since AND views > 0", s, params={"since": since})
    except UnknownTableError:
        return []
    return [HourViews(r["video_id"], r["hour"], int(r["views"]), int(r["completions"] or 0)) for r in t.to_pylist()]


def decide(s: Settings, rows: list[HourViews], now: datetime) -> EdgePolicy:
    heats = score_titles(rows, now)
    as_of = max((r.hour for r in rows), default=None)
    return choose(heats, int(s["VODFLOW_EDGE_POPULAR_TOP"]), tail_ttl_s=int(s["VODFLOW_EDGE_TAIL_TTL"]), now=now,
                  as_of_hour=as_of)


def apply(s: Settings, policy: EdgePolicy) -> str:
    """Write the policy and reload the edge; returns what happened."""
    path = write_policy(s, policy)
    return f"{len(policy.popular)} popular titles written to {path.name}; {reload_edge(s)}"


def prewarm(s: Settings, video_ids: list[str], *, edge_base: str | None = None) -> list[dict[str, Any]]:
    """Prewarm those of ``video_ids`` that are ready (others: skipped with the reason)."""
    from vodflow.catalog import VideoNotFound, VideoStatus, get_catalog
    from vodflow.cdn.prewarm import prewarm_title

    cat = get_catalog(s.catalog_db_url)
    out = []
    for vid in video_ids:
        try:
            rec = cat.get_video(vid)
        except VideoNotFound:
            out.append({"video_id": vid, "skipped": "not in the catalog"})
            continue
        if rec.status is not VideoStatus.READY:
            out.append({"video_id": vid, "skipped": f"status {rec.status.value}"})
            continue
        r = prewarm_title(s, vid, rec.hls_master_key, rec.dash_mpd_key, edge_base=edge_base)
        out.append({"video_id": vid, "requests": r.requests, "filled": r.misses, "already_cached": r.hits,
                    "errors": r.errors[:5]})
    return out


def fill_edge(s: Settings, policy: EdgePolicy, *, edge_base: str | None = None) -> dict[str, Any]:
    """Fill the edge along ``policy``'s fill plan over the ready titles of the catalog, within
    ``VODFLOW_EDGE_FILL_SHARE`` of the cache; the summary is kept for ``vodflow edge policy``."""
    from vodflow.catalog import get_catalog
    from vodflow.cdn.prewarm import fill

    cat = get_catalog(s.catalog_db_url)
    ready, offset = [], 0
    while True:                                            # newest first
        page = cat.list_videos("ready", limit=500, offset=offset)
        ready += page
        offset += len(page)
        if len(page) < 500:
            break
    manifests = {r.id: (r.hls_master_key, r.dash_mpd_key) for r in ready}
    plan = fill_plan(policy, [r.id for r in ready], int(s["VODFLOW_EDGE_PREWARM_SEGMENTS"]))
    out = fill(s, plan, manifests, fill_budget(s), edge_base=edge_base)
    write_fill(s, {"policy": policy.generated_at, "at": now_utc().isoformat(timespec="seconds"),
                   "planned_titles": len(plan), **out})
    return out


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
