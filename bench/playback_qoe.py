"""Benchmark: QoE of the web player in a real browser on throttled networks, read back from gold.

    VODFLOW_HOME=... .venv/bin/python bench/playback_qoe.py --sessions 20        # needs the stack up
    ... --this-only --sessions 20 --parallel 3 --play-s 20.5 --title ID   # this checkout's player, 20.5 s a session,
                                                                          # 3 at a time (docs/benchmarks-playback.md)

Each session is a fresh headless Chromium context (Debian's chromium, driven by Playwright, as in
tests/web): a subscriber's access token in sessionStorage, the title page ``/watch/{id}`` of the
stack's API (``--site``; the page, its player bundle and ``/play`` are the stack's), the player
fetching manifests, segments and the ClearKey license through the stack's nginx edge. The network
is throttled with the DevTools protocol (``Network.emulateNetworkConditions``: download/upload
throughput and a round-trip latency for every request of the page) before the title page loads:

==========  =========================================================================================
profile     conditions
==========  =========================================================================================
20mbps      20 Mb/s, 20 ms RTT
4mbps       4 Mb/s, 40 ms RTT
1.5mbps     1.5 Mb/s, 100 ms RTT
drop        4 Mb/s, 40 ms RTT; after ``--drop-after`` s of playback 0.5 Mb/s, 100 ms RTT (below the
            title's top rungs: the player must step down without stalling for long)
==========  =========================================================================================

A session plays its title to the end (the player's ``ended``), or fails: a player error, or no end
within ``4 x duration + 60`` s. The player's own analytics events (``startup``, ``rebuffer_start/end``,
``bitrate_switch``, ``video_progress`` with the rung, ``video_completed``) go through ``POST /events``
to Kafka and the stack's analytics stream folds them into the lake; the numbers are read back from
there, as any QoE dashboard would:

* gold/sessions (one row per session id): ``startup_ms``, ``rebuffer_ms``, ``played_s``, ``switches``;
* silver/video_events ``video_progress`` rows of the session: seconds played per rung, weighted by the
  rung's ``bandwidth`` in the catalog -> the session's mean bitrate.

Per profile: startup p50/p90, rebuffer ratio (stall time / (stall time + played time), over all of
the profile's sessions), mean bitrate, the start rung (the ``startup`` event's rung; see
docs/benchmarks-playback.md for why both), switches per session, failures (a session that failed in the
browser or never reached gold), and the share of frames the browser dropped (``getVideoPlaybackQuality``: a
renderer short of CPU stalls too, which is not the network's doing). ``--compare-this`` also starts this checkout's API (pages and player
bundle) and alternates the sessions between the stack's player and this one, in the same run. The player's own view (``startupMs`` on ``window.vodflowPlayer``) is
kept next to gold's as a check. Writes ``bench/out/playback_qoe.json``, the ``qoe`` key of
``bench/results/delivery.json`` (``--results``) and a plot (``--plot``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vodflow.settings import get_settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
PASSWORD = "bench-qoe-password-1"
START = "<start rung>"   # key of the rung a session started on, next to its seconds per rung
EMAIL = "bench-qoe@bench.vodflow.local"


def mbps(v: float) -> float:
    """Bytes per second of ``v`` Mb/s, as CDP wants throughput."""
    return v * 1_000_000 / 8


PROFILES = {
    "20mbps": {"down_mbps": 20.0, "rtt_ms": 20},
    "4mbps": {"down_mbps": 4.0, "rtt_ms": 40},
    "1.5mbps": {"down_mbps": 1.5, "rtt_ms": 100},
    "drop": {"down_mbps": 4.0, "rtt_ms": 40, "then_mbps": 0.5, "then_rtt_ms": 100},
}

STATE_JS = """() => { const v = document.getElementById('video'); const p = window.vodflowPlayer || {};
  return {t: v ? v.currentTime : 0, ended: !!(v && v.ended), state: p.state, errors: p.errors || [],
          session: p.sessionId || null, startup: p.startupMs, rung: p.currentRung, startBps: p.startBps,
          downlink: navigator.connection ? navigator.connection.downlink : null,
          switches: (p.rungSwitches || []).length, sent: p.eventsSent || 0, queued: p.eventsQueued || 0,
          rejected: p.eventsRejected || [],
          quality: v && v.getVideoPlaybackQuality ? (q => ({dropped: q.droppedVideoFrames, total: q.totalVideoFrames}))(
            v.getVideoPlaybackQuality()) : null,
          estBps: p.player && p.player.getStats ? p.player.getStats().estimatedBandwidth : null}; }"""


# where a session's startup went: the page's requests until a little after the first frame, and the first of
# each media event (ms from navigation; media events do not bubble, a capturing listener sees them)
MARKS_JS = """window.__marks = {}; for (const ev of ['loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'play',
  'waiting', 'playing']) document.addEventListener(ev, () => { if (!(ev in window.__marks))
  window.__marks[ev] = Math.round(performance.now()); }, true);"""
TIMINGS_JS = """() => { const p = window.vodflowPlayer || {};
  return [['marks', window.__marks || {}]].concat(performance.getEntriesByType('resource').filter(e => e.startTime < 12000)
    .map(e => [e.name.split('?')[0].split('/').slice(-2).join('/'), Math.round(e.startTime), Math.round(e.responseEnd),
               e.transferSize])); }"""


def conditions(down_mbps: float, rtt_ms: int) -> dict:
    return {"offline": False, "latency": rtt_ms, "downloadThroughput": mbps(down_mbps),
            "uploadThroughput": mbps(min(down_mbps, 5.0))}


# ------------------------------------------------------------------------------------------ setup
def subscriber(s):
    from vodflow.accounts import get_user_store

    store = get_user_store(s.catalog_db_url)
    user = store.by_email(EMAIL) or store.create(EMAIL, PASSWORD, country="US", plan="standard", role="viewer",
                                                 subscription="active")
    return user


def title_info(s, video_id: str) -> dict:
    """The catalog's view of a title: duration, rungs and their bandwidth."""
    from vodflow.catalog import Catalog

    rec = Catalog(s.catalog_db_url).get_video(video_id)
    if rec.status.value != "ready":
        raise SystemExit(f"title {video_id} is {rec.status.value!r}, not ready: pick a ready title (GET /videos)")
    rungs = {r.name: r.bandwidth for r in rec.renditions}
    return {"id": video_id, "title": rec.title, "duration_s": (rec.source_props or {}).get("duration"),
            "rungs": rungs}


# ------------------------------------------------------------------------------------------ sessions
def run_session(browser, site: str, token: str, info: dict, prof: dict, drop_after: float,
                play_s: float = 0) -> dict:
    """One session; ``play_s`` > 0 bounds it: after that many seconds of the title it is paused (the player
    queues ``video_paused``) and ends once the analytics queue is sent."""
    ctx = browser.new_context()
    ctx.add_init_script(f"sessionStorage.setItem('vodflow.accessToken', {json.dumps(token)});")
    ctx.add_init_script(MARKS_JS)
    page = ctx.new_page()
    page.set_default_timeout(30000)
    console: list[str] = []
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})   # every session fetches from the edge
    cdp.send("Network.emulateNetworkConditions", conditions(prof["down_mbps"], prof["rtt_ms"]))
    length = min(play_s, float(info["duration_s"] or 30)) if play_s else float(info["duration_s"] or 30)
    limit = 4 * length + 60
    t0 = time.monotonic()
    dropped = False
    st: dict = {}
    try:
        page.goto(f"{site}/watch/{info['id']}")
        while True:
            st = page.evaluate(STATE_JS)
            if st["errors"] or st["ended"] or time.monotonic() - t0 > limit:
                break
            if play_s and st["t"] >= play_s:     # bounded: the last progress event (every 10 s) is queued
                page.evaluate("() => document.getElementById('video').pause()")
                st = {**page.evaluate(STATE_JS), "ended": True, "bounded": True}
                break
            if "then_mbps" in prof and not dropped and st["t"] >= drop_after:
                cdp.send("Network.emulateNetworkConditions", conditions(prof["then_mbps"], prof["then_rtt_ms"]))
                dropped = True
            time.sleep(0.2)
        # the last batch (video_completed, the final progress) is flushed on 'ended'; give it time to land
        deadline = time.monotonic() + 15
        while st.get("ended") and time.monotonic() < deadline:
            st = {**page.evaluate(STATE_JS), "ended": True, "bounded": True} if st.get("bounded") \
                else page.evaluate(STATE_JS)
            if st["sent"] >= st["queued"]:
                break
            time.sleep(0.2)
        timings = page.evaluate(TIMINGS_JS)
    finally:
        ctx.close()
    ok = bool(st.get("ended")) and not st.get("errors") and not st.get("rejected")
    return {"session_id": st.get("session"), "ok": ok, "ended": st.get("ended"), "errors": st.get("errors"),
            "browser_startup_ms": st.get("startup"), "browser_switches": st.get("switches"),
            "wall_s": round(time.monotonic() - t0, 1), "dropped": dropped, "console": console[-5:],
            "bounded": bool(st.get("bounded")), "played_t": round(float(st.get("t") or 0), 2),
            "timings": timings, "start_bps": st.get("startBps"), "downlink_mbps": st.get("downlink"),
            # frames the browser dropped (decode/render late: the cores, not the link) and shaka's estimate at the end
            "frames": st.get("quality"), "est_bps_end": st.get("estBps")}


# sessions a few at a time: one browser per worker process (Playwright's sync API is one thread's)
_WORKER: dict = {}


def _worker_init() -> None:
    import atexit

    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    _WORKER["browser"] = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    atexit.register(pw.stop)
    atexit.register(_WORKER["browser"].close)


def _worker_session(job: tuple) -> tuple:
    key, args = job
    try:
        return key, run_session(_WORKER["browser"], *args)
    except Exception as e:  # noqa: BLE001 - a session that breaks the bench is a failed session, reported
        return key, {"session_id": None, "ok": False, "ended": False, "errors": [f"bench: {e!r}"[:300]],
                     "browser_startup_ms": None, "browser_switches": None, "wall_s": None, "dropped": False,
                     "console": [], "bounded": False, "played_t": 0}


# ------------------------------------------------------------------------------------------ gold
def read_gold(s, session_ids: list[str], wait_s: float, played: dict | None = None) -> tuple[dict, dict]:
    """``(gold sessions by id, seconds played per rung by session id)``, polling until every session is in
    gold with its final progress (completed, or for a bounded session the ``played`` seconds its progress
    events carry), or ``wait_s`` passes."""
    from vodflow.analytics.tables import SESSIONS, SILVER
    from vodflow.recs.serving_data import read_delta

    want = set(session_ids)
    deadline = time.monotonic() + wait_s
    while True:
        g = read_delta(SESSIONS.location(s), s, ["session_id", "startup_ms", "rebuffers", "rebuffer_ms",
                                                  "played_s", "switches", "completed", "events"])
        g = g[g["session_id"].isin(want)] if g is not None else None
        played = played or {}
        done = g is not None and sum(1 for r in g.itertuples(index=False)
                                     if r.completed or (r.session_id in played
                                                        and float(r.played_s or 0) >= played[r.session_id])) >= len(want)
        if done or time.monotonic() > deadline:
            break
        time.sleep(10)
    sessions = {r.session_id: r._asdict() for r in g.itertuples(index=False)} if g is not None else {}
    ev = read_delta(SILVER.location(s), s, ["session_id", "type", "rung", "played_s"])
    per_rung: dict = {}
    if ev is not None:
        ev = ev[ev["session_id"].isin(want)]
        for r in ev[ev["type"] == "video_progress"].itertuples(index=False):
            d = per_rung.setdefault(r.session_id, {})
            d[r.rung] = d.get(r.rung, 0.0) + float(r.played_s or 0)
        for r in ev[ev["type"] == "startup"].itertuples(index=False):
            per_rung.setdefault(r.session_id, {})[START] = r.rung
    return sessions, per_rung


def summarise(runs: list[dict], sessions: dict, per_rung: dict, rungs: dict) -> dict:
    startups, stall_ms, played_s, switches, bits, secs, starts = [], 0.0, 0.0, [], 0.0, 0.0, []
    failures = 0
    for r in runs:
        g = sessions.get(r["session_id"])
        if not r["ok"] or g is None:
            failures += 1
            continue
        if g["startup_ms"] is not None:
            startups.append(float(g["startup_ms"]) / 1000)
        stall_ms += float(g["rebuffer_ms"] or 0)
        played_s += float(g["played_s"] or 0)
        switches.append(int(g["switches"] or 0))
        for rung, t in per_rung.get(r["session_id"], {}).items():
            if rung == START:
                starts.append(rungs.get(t))
            elif rung in rungs:
                bits += rungs[rung] * t
                secs += t
    q = statistics.quantiles(startups, n=10) if len(startups) >= 2 else [None] * 9
    frames = [r["frames"] for r in runs if r.get("frames") and r["frames"].get("total")]
    return {"sessions": len(runs), "failures": failures,
            "startup_p50_s": round(statistics.median(startups), 3) if startups else None,
            "startup_p90_s": round(q[8], 3) if q[8] is not None else None,
            "rebuffer_ratio": round(stall_ms / (stall_ms + 1000 * played_s), 5) if played_s else None,
            "mean_bitrate": round(bits / secs) if secs else None,
            "switches_per_session": round(statistics.mean(switches), 2) if switches else None,
            # the browser's own count (getVideoPlaybackQuality): frames decoded or shown too late to play
            "dropped_frame_ratio": round(sum(f["dropped"] for f in frames) / sum(f["total"] for f in frames), 4)
            if frames else None,
            # the rung of the startup event: what the first frames were (the progress events name the rung
            # selected when they are sent, which on a one-segment title is the one ABR switched to after it)
            "start_bitrate_p50": statistics.median([b for b in starts if b]) if any(starts) else None,
            "browser_startup_p50_s": round(statistics.median([r["browser_startup_ms"] / 1000 for r in runs
                                                               if r["browser_startup_ms"]]), 3)
            if any(r["browser_startup_ms"] for r in runs) else None}


def targets(prof: dict) -> dict:
    """The issue's targets for one site's profiles."""
    def get(p: str, k: str):
        return prof.get(p, {}).get(k)

    return {"startup_p50_20mbps_under_1s": get("20mbps", "startup_p50_s") is not None
            and get("20mbps", "startup_p50_s") < 1.0,
            "startup_p50_4mbps_under_2s": get("4mbps", "startup_p50_s") is not None
            and get("4mbps", "startup_p50_s") < 2.0,
            "rebuffer_4mbps_under_0.5pct": get("4mbps", "rebuffer_ratio") is not None
            and get("4mbps", "rebuffer_ratio") < 0.005,
            "no_failures": all(v["failures"] == 0 for v in prof.values())}


def plot(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sites = list(res["profiles"])
    names = list(res["profiles"][sites[0]])
    fig, ax = plt.subplots(1, 4, figsize=(15, 3.6))
    width = 0.8 / len(sites)
    for k, (key, label, scale) in enumerate((("startup_p50_s", "startup p50 (s)", 1),
                                             ("rebuffer_ratio", "rebuffer ratio (%)", 100),
                                             ("mean_bitrate", "mean bitrate, progress events (Mb/s)", 1e-6),
                                             ("start_bitrate_p50", "start rung (Mb/s)", 1e-6))):
        for j, site in enumerate(sites):
            vals = [(res["profiles"][site][n].get(key) or 0) * scale for n in names]
            xs = [i + (j - (len(sites) - 1) / 2) * width for i in range(len(names))]
            ax[k].bar(xs, vals, width, label=f"{site} player")
            for x, v in zip(xs, vals):
                ax[k].text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        ax[k].set_xticks(range(len(names)), names)
        ax[k].set_title(label)
    ax[3].legend(fontsize=8)
    ax[0].axhline(1.0, color="#c44", lw=0.8, ls="--")
    ax[0].axhline(2.0, color="#c44", lw=0.8, ls=":")
    ax[1].axhline(0.5, color="#c44", lw=0.8, ls="--")
    fig.suptitle(f"web player QoE from gold ({res['date'][:16]} UTC, commit {res['commit']})", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def write_results(res: dict) -> None:
    """The ``qoe`` keys of bench/results/delivery.json: ``qoe`` for the stack's player, ``qoe_this`` for this
    checkout's when it was compared."""
    path = ROOT / "bench" / "results" / "delivery.json"
    d = json.loads(path.read_text()) if path.exists() else {}
    keep = ("startup_p50_s", "rebuffer_ratio", "mean_bitrate", "failures", "switches_per_session",
            "dropped_frame_ratio", "start_bitrate_p50", "sessions")
    only = len(res["profiles"]) == 1          # one player measured: it is `qoe`
    known = {"stack": "the stack's API and player (main)", "this": "this checkout's API and player"}
    run = {"date": res["date"], "commit": res["commit"], "load_avg": res["load_avg_before"],
           "load_avg_after": res.get("load_avg_after"), "browser_s": res.get("browser_s"),
           "sites": {k: known[k] for k in res["profiles"]},
           "sessions_per_profile": res["sessions_per_profile"], "play_s": res.get("play_s"),
           "parallel": res.get("parallel"), "titles": {k: v["id"] for k, v in res["titles"].items()}}
    # a run of some profiles (e.g. two per quiet window) replaces those profiles only, if it played the same
    # titles with the same players and session bounds; each profile keeps the run it came from
    old = d.get("qoe_run") or {}
    same = all(old.get(k) == run[k] for k in ("sites", "titles", "sessions_per_profile", "play_s", "parallel"))
    for name, prof in res["profiles"].items():
        key = "qoe" if name == "stack" or only else f"qoe_{name}"
        d[key] = {**(d.get(key, {}) if same else {}), **{p: {k: v.get(k) for k in keep} for p, v in prof.items()}}
    by_profile = {**(old.get("by_profile", {}) if same else {}),
                  **{p: {k: run[k] for k in ("date", "commit", "load_avg", "load_avg_after", "browser_s")}
                     for prof in res["profiles"].values() for p in prof}}
    d["qoe_run"] = {**run, "by_profile": by_profile}
    path.write_text(json.dumps(d, indent=1) + "\n")


def rescore(s, path: Path, args) -> int:
    """Summarise the sessions of an earlier run again from gold (e.g. after the summary gained a column)."""
    res = json.loads(path.read_text())
    ids = [r["session_id"] for per in res["runs"].values() for runs in per.values() for r in runs if r["session_id"]]
    score(res, *read_gold(s, ids, args.gold_wait, bounded_played(res)))
    return finish(res, path, args)


def bounded_played(res: dict) -> dict:
    """Seconds of progress events gold should show for each bounded session (whole progress intervals)."""
    step = 10   # web/src/analytics.js PROGRESS_INTERVAL_S
    return {r["session_id"]: step * int(max(0.0, r["played_t"] - 1) // step) for per in res["runs"].values()
            for runs in per.values() for r in runs if r.get("bounded") and r["session_id"]}


def score(res: dict, sessions: dict, per_rung: dict) -> None:
    """Each site's and profile's summary from gold, and the targets."""
    for name, per in res["runs"].items():
        for p, runs in per.items():
            info = res["titles"]["drop" if p == "drop" else "steady"]
            res["profiles"].setdefault(name, {})[p] = summarise(runs, sessions, per_rung, info["rungs"])
    res["targets"] = {name: targets(v) for name, v in res["profiles"].items()}


def finish(res: dict, path: Path, args) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2, default=str))
    print(json.dumps({"profiles": res["profiles"], "targets": res["targets"]}, indent=2))
    if args.plot:
        plot(res, Path(args.plot))
    if args.results:
        write_results(res)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20, help="sessions per profile")
    ap.add_argument("--profiles", default=",".join(PROFILES), help=f"comma-separated, of {', '.join(PROFILES)}")
    ap.add_argument("--title", default="", help="video id of the ready title played in the steady profiles "
                                                "(required unless --rescore)")
    ap.add_argument("--drop-title", default="", help="video id for the drop profile (default --title); a title "
                                                     "longer than --drop-after")
    ap.add_argument("--drop-after", type=float, default=8.0, help="seconds of playback before the drop")
    ap.add_argument("--play-s", type=float, default=0,
                    help="bound each session to this many seconds of the title (then paused; 0: to the end); "
                         "a little over a multiple of 10 s, the player's progress interval, e.g. 40.5")
    ap.add_argument("--parallel", type=int, default=1,
                    help="sessions at a time (one headless browser per worker process; each session throttled "
                         "on its own, so they share the cores, not the emulated link)")
    ap.add_argument("--site", default="", help="the API serving /watch (default: the stack's VODFLOW_API_URL)")
    ap.add_argument("--compare-this", action="store_true",
                    help="also start THIS checkout's API (its pages and player bundle; 1 worker, the stack's "
                         "settings) on a free port and alternate the sessions between the two sites: the stack's "
                         "player ('stack') against this checkout's ('this'), same edge, titles and networks")
    ap.add_argument("--this-only", action="store_true",
                    help="like --compare-this, but play only this checkout's player (its API; no sessions of the "
                         "stack's)")
    ap.add_argument("--port", type=int, default=18796, help="port of --compare-this's API")
    ap.add_argument("--rescore", default="", help="re-read gold for the sessions of an earlier output JSON and "
                                                  "summarise them again (no browser)")
    ap.add_argument("--gold-wait", type=float, default=300, help="seconds to wait for the sessions in gold")
    ap.add_argument("--results", action="store_true", help="update the qoe key of bench/results/delivery.json")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "img" / "playback-qoe.png"))
    args = ap.parse_args()

    s = get_settings()
    if args.rescore:
        return rescore(s, Path(args.rescore), args)
    if not args.title:
        raise SystemExit("--title VIDEO_ID is required: a ready title (GET /videos lists them)")
    from playwright.sync_api import sync_playwright

    from vodflow.auth.tokens import issue_access_token

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    site = (args.site or s.api_url).rstrip("/")
    user = subscriber(s)
    titles = {"steady": title_info(s, args.title), "drop": title_info(s, args.drop_title or args.title)}
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    for p in profiles:
        if p not in PROFILES:
            raise SystemExit(f"unknown profile {p!r}: use {', '.join(PROFILES)}")
    res: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                 "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True).stdout.strip(),
                 "site": site, "load_avg_before": os.getloadavg(), "sessions_per_profile": args.sessions,
                 "play_s": args.play_s, "parallel": args.parallel,
                 "titles": titles, "conditions": {p: PROFILES[p] for p in profiles}, "runs": {}, "profiles": {}}
    sites = {"stack": site}
    server = None
    if args.compare_this or args.this_only:
        from benchkit import start_api, stop

        from vodflow.clients import s3_env

        server = start_api(args.port, 1, {**os.environ, **s3_env(s)}, extra=("--no-access-log",), cwd=str(ROOT))
        sites["this"] = f"http://127.0.0.1:{args.port}"
        if args.this_only:
            del sites["stack"]
    res["sites"] = sites
    # the jobs interleaved (session k of every profile and site before session k + 1): with --parallel the
    # sessions that share the cores at any moment are of every profile and site alike
    jobs = [((name, p, k), (url, issue_access_token(s, user, ttl_s=3600), titles["drop" if p == "drop" else "steady"],
                            PROFILES[p], args.drop_after, args.play_s))
            for k in range(args.sessions) for p in profiles for name, url in sites.items()]
    for url in sites.values():   # a cold API's first /play of a title (catalog read, RSA) is not a viewer's
        import httpx

        httpx.get(f"{url}/videos/{args.title}/play", timeout=30, headers={
            "Authorization": f"Bearer {issue_access_token(s, user, ttl_s=600)}", "X-Device-Id": "bench-warmup"})
    t0 = time.monotonic()

    def record(key: tuple, r: dict) -> None:
        name, p, k = key
        res["runs"].setdefault(name, {}).setdefault(p, []).append(r)
        print(f"[{name}] {p} {k + 1}/{args.sessions}: {'ok' if r['ok'] else 'FAILED'} startup "
              f"{r['browser_startup_ms']} ms, {r['browser_switches']} switches, {r['wall_s']} s"
              f"{'' if r['ok'] else ' ' + json.dumps(r['errors'])[:300]}", flush=True)

    try:
        if args.parallel > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(args.parallel, initializer=_worker_init) as pool:
                for key, r in pool.imap_unordered(_worker_session, jobs):
                    record(key, r)
        else:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    for key, a in jobs:
                        record(key, run_session(browser, *a))
                finally:
                    browser.close()
    finally:
        if server is not None:
            stop(server)
    res["browser_s"] = round(time.monotonic() - t0, 1)
    ids = [r["session_id"] for per in res["runs"].values() for runs in per.values() for r in runs if r["session_id"]]
    out = ROOT / "bench" / "out" / "playback_qoe.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str))      # the sessions, for --rescore if gold is slow
    print(f"waiting for {len(ids)} sessions in gold ...", flush=True)
    score(res, *read_gold(s, ids, args.gold_wait, bounded_played(res)))
    res["load_avg_after"] = os.getloadavg()
    return finish(res, out, args)


if __name__ == "__main__":
    raise SystemExit(main())
