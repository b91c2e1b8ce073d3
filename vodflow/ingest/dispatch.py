"""Ingest requests → one ``video_ingest`` run per title.

The Kafka AssetWatcher turns every ingest request into an asset event, but Airflow folds the
asset events that arrive while a run is pending (or while ``max_active_runs`` is reached) into
*one* asset-triggered run. A DAG that ingested "the" request of its run would silently drop the
others, so the asset-scheduled ``ingest_dispatch`` DAG reads *all* events of its run and starts
one ``video_ingest`` run per request, with a run id derived from the request's Kafka coordinates:
a redelivered message maps to the same run id and is skipped, never ingested twice.
"""

from __future__ import annotations

import hashlib
import logging
import re

log = logging.getLogger("vodflow.ingest")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_id_for(request: dict) -> str:
    """A deterministic, Airflow-safe run id for one ingest request."""
    who = request.get("video_id") or "key-" + hashlib.sha1(str(request.get("source_key")).encode()).hexdigest()[:12]
    who = _UNSAFE.sub("-", str(who))[:80]
    if request.get("partition") is not None and request.get("offset") is not None:
        where = f"k{int(request['partition'])}-{int(request['offset'])}"
    else:  # an asset event posted by hand (REST/UI) carries no Kafka coordinates
        where = "e" + hashlib.sha1(repr(sorted(request.items())).encode()).hexdigest()[:10]
    return f"ingest__{who}__{where}"


def requests_from_events(triggering_asset_events) -> list[dict]:
    """Every ingest request in a run's triggering asset events, in Kafka order, without duplicates."""
    seen: dict[str, dict] = {}
    for events in (triggering_asset_events or {}).values():
        for ev in events:
            extra = dict(getattr(ev, "extra", None) or {})
            payload = extra.get("payload", extra)
            if not isinstance(payload, dict) or not (payload.get("video_id") or payload.get("source_key")):
                log.warning("ignoring an asset event without video_id/source_key: %r", extra)
                continue
            seen.setdefault(run_id_for(payload), payload)
    return sorted(seen.values(), key=lambda r: (r.get("partition") or 0, r.get("offset") or 0))


def trigger_kwargs(triggering_asset_events) -> list[dict]:
    """``expand_kwargs`` input for TriggerDagRunOperator: one video_ingest run per request."""
    out = []
    for req in requests_from_events(triggering_asset_events):
        conf = {"video_id": req.get("video_id"), "s3_key": req.get("source_key"), "title": req.get("title") or None}
        out.append({"trigger_run_id": run_id_for(req), "conf": conf})
    log.info("dispatching %d ingest request(s): %s", len(out), [o["trigger_run_id"] for o in out])
    return out
