"""Simulated viewers: realistic player sessions as raw events, and senders to the API or to Kafka.

Status: done -- :func:`simulate_sessions` (deterministic for a given ``seed`` and ``start``),
:func:`send_to_api` (batches to ``POST /events``, retries 503), :func:`send_to_kafka` (raw JSON
straight to the topic, *without* validation: malformed events reach Kafka, which is what the
quarantine path of the streaming job must be tested with), :func:`register` (``vodflow events
simulate``; the lead wires it into ``vodflow/cli.py``). By default the command watches the catalog's
ready titles with their true durations (:func:`catalog_titles`, read through the API: public catalog
reads, no catalog DB access from analytics); ``--video-ids`` names titles, ``--synthetic N`` invents
ids and durations (:func:`invented_durations`) for load tests. Rejections are counted by reason
(:func:`rejection_reason`).
Next: a ``--rate`` option replaying events in real time for the streaming job's demo; the titles'
real ladders (rung names) instead of :data:`RUNGS`.

Model (per viewer, over a window of ``minutes`` of simulated time ending at ``start + minutes``):
a viewer (device, country) watches sessions one after the other with gaps; each session picks a
title by Zipf popularity (exponent :data:`ZIPF_S`) over ``catalog_video_ids`` (index 0 = most
popular), emits ``startup`` and ``video_started`` (30 % resume mid-title), ``video_progress`` every
10 s of playback, and on the way pauses, seeks, rebuffers (start/end with duration), bitrate
switches, abandonment (an early-drop hazard plus a constant one), ``video_completed`` at the end
of the title; a session still running at the end of the window just stops. Then delivery faults:
``dup_rate`` of events resent (same event_id, later), ``late_rate`` delivered late (moved after
events up to minutes newer: out of order), ``malformed_rate`` corrupted (bad UUID, negative
position, unknown type, future client_ts, missing field, bad country, naive timestamp).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Optional, Sequence

from vodflow.settings import Settings, get_settings

ZIPF_S = 1.1
RUNGS = ["240p", "360p", "480p", "720p", "1080p"]
DEVICES = [("web", 0.35), ("tv", 0.25), ("android", 0.2), ("ios", 0.17), ("other", 0.03)]
COUNTRIES = [("US", 0.35), ("GB", 0.1), ("FR", 0.1), ("DE", 0.1), ("BR", 0.08), ("IN", 0.08), ("CA", 0.06),
             ("ES", 0.05), ("JP", 0.05), ("NG", 0.03)]
MALFORMATIONS = ["bad_uuid", "negative_position", "unknown_type", "future_ts", "missing_field", "bad_country",
                 "naive_ts"]
# per 10 s tick of playback
P_PAUSE, P_SEEK, P_REBUFFER, P_SWITCH = 0.012, 0.008, 0.006, 0.03
P_ABANDON_EARLY, P_ABANDON = 0.03, 0.002   # early: during the first 2 minutes


@dataclass
class Simulation:
    """Raw events in delivery order, and what was injected."""

    events: list[dict[str, Any]]
    sessions: int
    clean: int                      # events generated before the faults
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    malformed_ids: set[str] = field(default_factory=set)   # event_ids of the corrupted events (if a str)
    malformed_indexes: list[int] = field(default_factory=list)

    def stats(self) -> dict[str, int]:
        return {"events": len(self.events), "sessions": self.sessions, "clean": self.clean,
                "duplicates": self.duplicates, "late": self.late, "malformed": self.malformed}


def synthetic_catalog(n: int, seed: int = 0) -> list[str]:
    """``n`` deterministic video ids (UUIDs) for when no catalog is at hand."""
    rng = random.Random(f"catalog-{seed}")
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


def _session(rng: random.Random, t0: datetime, t_end: datetime, user: dict[str, str], video_id: str,
             duration_s: float) -> tuple[list[dict[str, Any]], datetime]:
    """One session's events (client order) and the wall time it ended."""
    sid = _uuid(rng)
    out: list[dict[str, Any]] = []
    top = 4 if user["device"] == "tv" else 3 if user["device"] in ("web", "other") else 2
    rung_i = max(0, min(len(RUNGS) - 1, top - rng.randint(0, 2)))
    now = t0
    pos = 0.0 if rng.random() > 0.3 else round(rng.uniform(0.05, 0.8) * duration_s, 1)

    def emit(type_: str, **extra: Any) -> None:
        out.append({"schema_version": 1, "type": type_, "event_id": _uuid(rng), "session_id": sid,
                    "user_id": user["user_id"], "video_id": video_id, "client_ts": _iso(now),
                    "position_s": min(round(pos, 3), duration_s), "duration_s": duration_s, "rung": RUNGS[rung_i],
                    "device": user["device"],
                    "country": user["country"], **extra})

    startup_ms = int(min(60000, rng.lognormvariate(math.log(900), 0.6)))
    now += timedelta(milliseconds=startup_ms)
    emit("startup", startup_ms=startup_ms)
    emit("video_started")
    played = 0.0
    while now < t_end:
        if pos >= duration_s:
            pos = duration_s
            emit("video_completed")
            break
        hazard = P_ABANDON_EARLY if played < 120 else P_ABANDON
        if rng.random() < hazard:
            break                                   # abandoned: the player just stops sending
        r = rng.random()
        if r < P_PAUSE:
            emit("video_paused")
            now += timedelta(seconds=rng.expovariate(1 / 45))
            continue
        r -= P_PAUSE
        if r < P_SEEK:
            jump = rng.choice([-1, 1, 1]) * rng.uniform(10, 600)
            target = round(max(0.0, min(duration_s - 1, pos + jump)), 1)  # never past the end
            if target != round(pos, 1):
                emit("video_seek", from_position_s=round(pos, 3), to_position_s=target)
                pos = target
            now += timedelta(milliseconds=rng.randint(200, 1500))
            continue
        r -= P_SEEK
        if r < P_REBUFFER:
            emit("rebuffer_start")
            stall_ms = int(min(30000, rng.lognormvariate(math.log(1500), 0.8)))
            now += timedelta(milliseconds=stall_ms)
            emit("rebuffer_end", duration_ms=stall_ms)
            if rung_i > 0 and rng.random() < 0.6:
                rung_i -= 1
                emit("bitrate_switch", from_rung=RUNGS[rung_i + 1], to_rung=RUNGS[rung_i])
            continue
        r -= P_REBUFFER
        if r < P_SWITCH:
            new = max(0, min(len(RUNGS) - 1, rung_i + rng.choice([-1, 1])))
            if new != rung_i:
                old, rung_i = rung_i, new
                emit("bitrate_switch", from_rung=RUNGS[old], to_rung=RUNGS[new])
        step = min(10.0, duration_s - pos)
        now += timedelta(seconds=step)
        pos += step
        played += step
        if round(step, 3) > 0:  # a sliver of < 0.5 ms before the end would be sent as played_s 0 (invalid)
            emit("video_progress", played_s=round(step, 3))
    return out, now


def _malform(rng: random.Random, ev: dict[str, Any], how: str, start: datetime) -> dict[str, Any]:
    bad = dict(ev)
    if how == "bad_uuid":
        bad["event_id"] = "not-a-uuid-" + str(rng.randint(0, 999))
    elif how == "negative_position":
        bad["position_s"] = -abs(bad["position_s"]) - 1
    elif how == "unknown_type":
        bad["type"] = "video_exploded"
    elif how == "future_ts":
        bad["client_ts"] = _iso(datetime.now(timezone.utc) + timedelta(days=2))
    elif how == "missing_field":
        del bad["session_id"]
    elif how == "bad_country":
        bad["country"] = "Frankreich"
    elif how == "naive_ts":
        bad["client_ts"] = bad["client_ts"][:23]
    return bad


def invented_durations(catalog_video_ids: Sequence[str], seed: int = 0) -> dict[str, float]:
    """Plausible feature/episode lengths (7 to 156 minutes) for ids without a known duration."""
    return {v: round(random.Random(f"{seed}-{v}").choice([600, 1320, 2700, 5400, 7200])
                     * random.Random(f"d{seed}-{v}").uniform(0.7, 1.3), 3) for v in catalog_video_ids}


def simulate_sessions(n_viewers: int, minutes: float, catalog_video_ids: Sequence[str], seed: int = 0, *,
                      start: Optional[datetime] = None, dup_rate: float = 0.01, late_rate: float = 0.02,
                      malformed_rate: float = 0.005, durations: Optional[Mapping[str, float]] = None
                      ) -> Simulation:
    """Sessions of ``n_viewers`` over ``minutes`` of client time from ``start`` (default: ``minutes`` ago, so
    every clean event is in the past). Same ``seed`` and ``start`` -> the same events, byte for byte
    (except the ``future_ts`` malformation, which is relative to the real clock).

    ``durations``: each title's true length in seconds (the catalog's, see :func:`catalog_titles`);
    ids missing from it get :func:`invented_durations`. No position is ever past a title's end."""
    if n_viewers < 0 or minutes <= 0 or not catalog_video_ids:
        raise ValueError("need n_viewers >= 0, minutes > 0 and a non-empty catalog")
    bad = {v: d for v, d in (durations or {}).items() if not (isinstance(d, (int, float)) and d > 0)}
    if bad:
        raise ValueError(f"durations must be positive seconds, got {bad}")
    rng = random.Random(seed)
    start = (start or datetime.now(timezone.utc) - timedelta(minutes=minutes)).astimezone(timezone.utc)
    t_end = start + timedelta(minutes=minutes)
    n = len(catalog_video_ids)
    zipf = [1 / (k + 1) ** ZIPF_S for k in range(n)]
    durations = {**invented_durations(catalog_video_ids, seed), **{v: float(d) for v, d in (durations or {}).items()}}

    timeline: list[tuple[datetime, int, dict[str, Any]]] = []
    sessions = 0
    for _ in range(n_viewers):
        user = {"user_id": f"u-{rng.getrandbits(40):010x}", "device": _pick(rng, DEVICES),
                "country": _pick(rng, COUNTRIES)}
        t = start + timedelta(seconds=rng.uniform(0, minutes * 60 * 0.5))
        while t < t_end:
            vid = rng.choices(catalog_video_ids, zipf)[0]
            evs, t = _session(rng, t, t_end, user, vid, durations[vid])
            sessions += 1
            timeline.extend((datetime.fromisoformat(e["client_ts"]), len(timeline) + i, e) for i, e in enumerate(evs))
            if rng.random() < 0.5:
                break
            t += timedelta(seconds=rng.expovariate(1 / 60))
    timeline.sort(key=lambda x: (x[0], x[1]))
    events = [e for _, _, e in timeline]
    sim = Simulation(events=[], sessions=sessions, clean=len(events))
    if not events:
        return sim

    # Faults, in a fixed order: corrupt, then resend, then delay.
    k_bad = round(len(events) * malformed_rate)
    bad_idx = set(rng.sample(range(len(events)), k_bad))
    marked: list[tuple[dict[str, Any], bool]] = []
    for i, e in enumerate(events):
        if i in bad_idx:
            marked.append((_malform(rng, e, rng.choice(MALFORMATIONS), start), True))
        else:
            marked.append((e, False))
    sim.malformed = k_bad
    good_positions = [i for i, (_, bad) in enumerate(marked) if not bad]
    k_dup = round(len(events) * dup_rate)
    dup_src = rng.sample(good_positions, min(k_dup, len(good_positions)))
    out = list(marked)
    for i in sorted(dup_src, reverse=True):  # resend a little later (retry after a lost answer)
        j = min(len(out), i + 1 + rng.randint(0, 50))
        out.insert(j, (dict(marked[i][0]), False))
    sim.duplicates = len(dup_src)
    k_late = round(len(events) * late_rate)
    late_src = sorted(rng.sample(range(len(out)), min(k_late, len(out))), reverse=True)
    moved = []
    for i in late_src:
        moved.append((i, out.pop(i)))
    for i, item in moved:  # delivered 50..2000 positions later (network buffering, app backgrounded)
        j = min(len(out), i + rng.randint(50, 2000))
        out.insert(j, item)
    sim.late = len(late_src)
    sim.events = [e for e, _ in out]
    sim.malformed_indexes = [i for i, (_, bad) in enumerate(out) if bad]
    sim.malformed_ids = {e["event_id"] for e, bad in out if bad and isinstance(e.get("event_id"), str)}
    return sim


def catalog_titles(api_url: str, *, client=None) -> dict[str, float]:
    """``{video_id: duration_s}`` of the catalog's ready titles, newest first, read through the API
    (``vodflow.catalog.client``); raises ``NoReadyTitles`` (a plain reason and the fix) when there is none."""
    from vodflow.catalog.client import ready_titles

    return {t.id: t.duration_s for t in ready_titles(api_url, client=client)}


# --------------------------------------------------------------------------- senders
_GOT = re.compile(r" \(got [^)]*\)")


def rejection_reason(rejected: Mapping[str, Any]) -> str:
    """The reason of one entry of ``POST /events``' ``rejected`` list, without the offending value, so that
    equal reasons can be counted together (``position_s: Input should be greater than or equal to 0``)."""
    errors = rejected.get("errors") or [{"field": "event", "reason": rejected.get("reason") or "?"}]
    return "; ".join(f"{e.get('field')}: {_GOT.sub('', str(e.get('reason')))}" for e in errors)


def _batches(events: Sequence[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(events), size):
        yield list(events[i:i + size])


def send_to_api(events: Sequence[dict[str, Any]], api_url: str, *, batch_size: int = 500, retries: int = 5,
                timeout: float = 30.0, client=None, token: str | None = None) -> dict[str, Any]:
    """POST the events in batches; a 503 is retried with backoff (same batch, same event_ids).

    Returns ``{"accepted", "rejected", "batches", "failed_batches"}`` (counts) and ``"reasons"``: how many
    events were rejected for each reason (:func:`rejection_reason`), most frequent first.
    ``client`` may be any object with an httpx-like ``post`` (e.g. a FastAPI TestClient). The simulated viewers are not accounts, so the events
    are posted with an admin's (or a service) token: ``token``, else ``VODFLOW_API_TOKEN``, else an admin
    login at ``api_url`` (``vodflow.auth.client.api_token``).
    """
    import httpx

    from vodflow.auth.client import api_token, bearer

    headers = bearer(api_token(api_url, token))
    own = client is None
    c = client or httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
    tot = {"accepted": 0, "rejected": 0, "batches": 0, "failed_batches": 0}
    reasons: Counter[str] = Counter()
    try:
        for batch in _batches(events, batch_size):
            tot["batches"] += 1
            for attempt in range(retries + 1):
                try:
                    r = c.post("/events", json={"events": batch}, headers=headers)
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code in (200, 422):
                    body = r.json()
                    tot["accepted"] += body["accepted"]
                    tot["rejected"] += len(body["rejected"])
                    reasons.update(rejection_reason(x) for x in body["rejected"])
                    break
                if r is not None and r.status_code not in (502, 503, 504):
                    raise RuntimeError(f"POST /events answered {r.status_code}: {r.text[:300]}")
                if attempt == retries:
                    tot["failed_batches"] += 1
                else:
                    time.sleep(min(10.0, 0.5 * 2 ** attempt))
    finally:
        if own:
            c.close()
    return {**tot, "reasons": dict(reasons.most_common())}


def send_to_kafka(events: Sequence[dict[str, Any]], settings: Settings | None = None, *, producer=None,
                  stamp_server_ts: bool = True) -> int:
    """Produce the raw events straight to ``settings.topic_events`` (no validation), keyed by session_id.

    ``server_ts`` is stamped with the send time (as the API would) unless ``stamp_server_ts`` is false.
    Returns the number produced (all acknowledged: flushed and checked).
    """
    from vodflow.clients import kafka_producer

    s = settings or get_settings()
    own = producer is None
    p = producer or kafka_producer(s, client_id="vodflow-simulator")
    try:
        futures = []
        for e in events:
            if stamp_server_ts and isinstance(e, dict):
                e = {**e, "server_ts": _iso(datetime.now(timezone.utc))}
            key = e.get("session_id") if isinstance(e, dict) else None
            futures.append(p.send(s.topic_events, key=key.encode() if isinstance(key, str) else None,
                                  value=json.dumps(e).encode()))
        p.flush()
        for f in futures:
            f.get(timeout=30)
        return len(futures)
    finally:
        if own:
            p.close()


# --------------------------------------------------------------------------- CLI
def _catalog_duration(api_url: str, video_id: str) -> float | None:
    """The catalog duration of ``video_id``, or None when the catalog does not know it (or has none)."""
    from vodflow.catalog.client import Title, UnknownVideo, get_video

    try:
        return Title.of(get_video(api_url, video_id)).duration_s
    except UnknownVideo:
        return None


def register(app) -> None:
    """Add ``events simulate`` to a Typer app (``vodflow events simulate --viewers N --minutes M``)."""
    import typer

    events_app = typer.Typer(help="Player events: simulate viewers and send their events.", no_args_is_help=True)

    @events_app.command("simulate")
    def simulate_cmd(
        viewers: int = typer.Option(100, "--viewers", min=1, help="Number of simulated viewers."),
        minutes: float = typer.Option(10.0, "--minutes", min=0.1, help="Minutes of client time, ending now."),
        to: str = typer.Option("api", "--to", help="Where to send: 'api' (POST /events) or 'kafka' (direct, "
                                                   "no validation: malformed events reach the topic)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        video_ids: str = typer.Option("", "--video-ids", help="Comma-separated catalog ids (default: every ready "
                                                              "title of the catalog, with its true duration)."),
        synthetic: int = typer.Option(0, "--synthetic", min=0, help="Invent this many video ids (and durations) "
                                                                    "instead of reading the catalog (load tests)."),
        batch_size: int = typer.Option(500, "--batch-size", min=1, max=1000, help="Events per API request."),
        api_url: str = typer.Option("", "--api-url", help="API base URL (default VODFLOW_API_URL)."),
        token: str = typer.Option("", "--token", envvar="VODFLOW_API_TOKEN",
                                  help="An admin's or service access token for --to api (default: log in as "
                                       "VODFLOW_ADMIN_EMAIL / VODFLOW_ADMIN_PASSWORD)."),
    ) -> None:
        """Simulate viewers' sessions on the catalog's ready titles (with duplicates, late and malformed
        events) and send them. Rejected events are counted by reason; exit code 1 when none was accepted."""
        from vodflow.catalog.client import CatalogUnavailable, NoReadyTitles

        if to not in ("api", "kafka"):
            raise typer.BadParameter("--to must be 'api' or 'kafka'")
        if synthetic and video_ids:
            raise typer.BadParameter("give either --video-ids or --synthetic, not both")
        s = get_settings()
        url = api_url or s.api_url
        try:
            if synthetic:
                durations: dict[str, float] = {}
                ids = synthetic_catalog(synthetic, seed)
            elif video_ids:
                ids = [v.strip() for v in video_ids.split(",") if v.strip()]
                durations = {}
                for v in ids:  # a known title gets its true duration; an unknown id is the caller's choice
                    d = _catalog_duration(url, v)
                    if d:
                        durations[v] = d
            else:
                durations = catalog_titles(url)
                ids = list(durations)
        except (CatalogUnavailable, NoReadyTitles) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        sim = simulate_sessions(viewers, minutes, ids, seed, durations=durations)
        typer.echo(f"titles: {len(ids)} ({len(durations)} with their catalog duration)")
        typer.echo("simulated: " + ", ".join(f"{k} {v}" for k, v in sim.stats().items()))
        t0 = time.monotonic()
        try:
            if to == "api":
                res = send_to_api(sim.events, url, batch_size=batch_size, token=token or None)
                reasons = res.pop("reasons")
                typer.echo(f"sent to {url}/events in {time.monotonic() - t0:.1f}s: "
                           + ", ".join(f"{k} {v}" for k, v in res.items()))
                for reason, n in reasons.items():
                    typer.echo(f"  rejected {n:>6}: {reason}")
                if res["failed_batches"]:
                    typer.echo(f"error: {res['failed_batches']} batches were not delivered (the API answered "
                               "502/503/504 after retries): see `vodflow logs api`", err=True)
                    raise typer.Exit(1)
                if sim.events and not res["accepted"]:
                    typer.echo("error: no event was accepted (reasons above)", err=True)
                    raise typer.Exit(1)
            else:
                n = send_to_kafka(sim.events, s)
                typer.echo(f"produced {n} events to {s.topic_events} at {s.kafka_bootstrap} "
                           f"in {time.monotonic() - t0:.1f}s")
        except typer.Exit:
            raise
        except Exception as e:  # noqa: BLE001
            typer.echo(f"error: {type(e).__name__}: {e}", err=True)
            raise typer.Exit(1) from None

    app.add_typer(events_app, name="events")
