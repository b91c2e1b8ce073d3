"""Benchmark: ``GET /videos/{id}/play`` and ``POST /license/clearkey`` with wrk on loopback.

    .venv/bin/python bench/playback_api.py --titles 50 --rate 500 --duration 30s     # needs `vodflow up`
    .venv/bin/python bench/playback_api.py --rate 1000 --connections 40 --baseline /work/main --rounds 2 --no-max

1. Setup (removed again at the end): ``--titles`` ready titles in the stack's catalog, each with a
   content key in the key store, and one subscriber account; an access token for it and one
   license token per title (bound to the bench device).
2. The server: ``--workers`` uvicorn workers of the API app on a private port, with the stack's
   settings (same catalog DB, signing keys, key store) — the production shape of the ``api``
   service; ``--api-url`` benchmarks an already running server instead.
3. wrk (Lua scripts rotating over the titles):
   * ``/play`` at a target rate: ``--connections`` connections, each waiting ``connections/rate``
     between requests (wrk's ``delay()``), so the server sees about ``--rate`` requests/s and the
     latency percentiles are those at that rate — the target is p99 < 10 ms at 1,000 requests/s;
   * the baseline, ``GET /healthz`` (one catalog ``SELECT 1``) with the same rate and think time:
     the latency any request gets from this server on this machine;
   * ``/play`` flat out (no delay): the maximum rate on this machine;
   * the license exchange flat out (each request a real ClearKey request of the title's kid with its
     license token and device id).
4. ``--baseline CHECKOUT``: that checkout's API (its own .venv) is started too, on ``--port + 1``, and
   the fixed-rate passes alternate between the two servers (``--rounds`` times), same think time. Each
   pass also records the servers' CPU per request (user + system of the server and its workers, from
   psutil): unlike latency on a shared machine, it does not depend on what else runs.
Prints and stores one JSON object (``bench/out/playback_api.json``); non-2xx answers are counted
and make the run fail, so a misconfigured run cannot report a rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import start_api, stop, wrk  # noqa: E402

from vodflow.settings import get_settings  # noqa: E402

DEVICE = "bench-device-0001"

PLAY_LUA = r"""
local ids = {%(ids)s}
local n = 0
function setup(thread) n = n + 1; thread:set("off", n * 13) end
local i = 0
function init(args) i = tonumber(off) or 0 end
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-Device-Id"] = "%(device)s"
function request()
  i = i + 1
  return wrk.format("GET", "/videos/" .. ids[(i %% #ids) + 1] .. "/play")
end
%(delay)s
"""

LICENSE_LUA = r"""
local bodies = {%(bodies)s}
local tokens = {%(tokens)s}
local n = 0
function setup(thread) n = n + 1; thread:set("off", n * 13) end
local i = 0
function init(args) i = tonumber(off) or 0 end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Device-Id"] = "%(device)s"
function request()
  i = i + 1
  local k = (i %% #bodies) + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[k]
  return wrk.format("POST", "/license/clearkey", nil, bodies[k])
end
"""


def lua_str(v: str) -> str:
    return json.dumps(v)  # a JSON string literal is a valid Lua string literal for these ASCII values


def setup_titles(s, n: int) -> list[tuple[str, str]]:
    """``n`` ready, worldwide titles with a content key each: ``[(video_id, kid_hex)]``."""
    from vodflow.catalog import Catalog
    from vodflow.drm.keystore import KeyStore

    cat, ks = Catalog(s.catalog_db_url), KeyStore(s)
    rend = [{"name": "720p", "width": 1280, "height": 720, "fps": 25.0, "codecs": "avc1.64001f,mp4a.40.2",
             "bandwidth": 3_000_000}]
    out = []
    for k in range(n):
        vid = str(uuid.uuid4())
        cat.create_video(f"bench-play {k}", f"masters/{vid}/original.mp4", [], video_id=vid)
        cat.start_processing(vid, "bench")
        cat.mark_ready(vid, rend, {"hls": f"videos/{vid}/master.m3u8", "dash": f"videos/{vid}/manifest.mpd"},
                       run_id="bench")
        out.append((vid, ks.get_or_create(vid)[0].key_id))
    return out


def teardown_titles(s, titles) -> None:
    from vodflow.catalog import Catalog

    cat = Catalog(s.catalog_db_url)
    for vid, _ in titles:
        try:
            cat.delete_video(vid)   # content keys go with it (ON DELETE CASCADE)
        except Exception as e:  # noqa: BLE001
            print(f"warning: could not delete bench title {vid}: {e}", file=sys.stderr)


def start_server(s, workers: int, port: int, checkout: Path = ROOT) -> subprocess.Popen:
    """The API of ``checkout`` (its own .venv if it has one) with the stack's settings."""
    from vodflow.clients import s3_env

    py = checkout / ".venv" / "bin" / "python"
    return start_api(port, workers, {**os.environ, **s3_env(s)}, extra=("--no-access-log",), cwd=str(checkout),
                     python=str(py) if py.exists() else sys.executable)


def _ms(v: str, unit: str) -> float:
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def server_cpu_s(server: subprocess.Popen | None) -> float | None:
    """CPU seconds (user + system) used so far by a server and its workers: the cost per request, which
    the other processes on a shared machine do not change (unlike the latencies)."""
    if server is None:
        return None
    import psutil

    try:
        root = psutil.Process(server.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    total = 0.0
    for pr in procs:
        try:
            c = pr.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_wrk(url: str, script: str, duration: str, connections: int, threads: int,
            server: subprocess.Popen | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    cpu0 = server_cpu_s(server)
    try:
        out = wrk(url, f.name, duration, connections, threads)
    finally:
        os.unlink(f.name)
    cpu1 = server_cpu_s(server)
    lat = {f"p{int(p)}_ms": _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    cpu = {"server_cpu_ms_per_request": round(1000 * (cpu1 - cpu0) / total, 3)} if cpu0 is not None and total else {}
    return {"requests": total, "requests_per_s": round(rps, 1), **lat, **cpu,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else None}


def write_results(res: dict) -> None:
    """The /play keys of bench/results/delivery.json: this checkout's worst fixed-rate round (highest p99)
    with the /healthz baseline of the same round, the other checkout's likewise, CPU per request."""
    def rounds(tag: str) -> list[tuple[dict, dict]]:
        return [(v, res[k.replace("play_at_rate", "healthz_at_rate")]) for k, v in res.items()
                if k.startswith("play_at_rate") and (("baseline" in k) == (tag == "baseline"))]

    path = ROOT / "bench" / "results" / "delivery.json"
    d = json.loads(path.read_text()) if path.exists() else {}
    for tag, prefix in (("this", ""), ("baseline", "baseline_")):
        rs = rounds(tag)
        if not rs:
            continue
        play, hz = max(rs, key=lambda r: r[0].get("p99_ms") or 0)
        d[f"{prefix}play_rate"] = play["requests_per_s"]
        d[f"{prefix}play_p99_ms"] = play.get("p99_ms")
        d[f"{prefix}healthz_p99_ms"] = hz.get("p99_ms")
        d[f"{prefix}play_cpu_ms_per_request"] = round(sum(p.get("server_cpu_ms_per_request") or 0 for p, _ in rs)
                                                      / len(rs), 3)
    d["play_run"] = {"when": res["when"], "target_rate": next(v for k, v in res.items()
                                                              if k.startswith("play_at_rate"))["target_rate"],
                     "load_avg": res["load_avg_before"], "baseline": res.get("baseline"), "workers": res["workers"],
                     "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                              text=True).stdout.strip()}
    path.write_text(json.dumps(d, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=50)
    ap.add_argument("--rate", type=int, default=1000, help="target /play requests per second")
    ap.add_argument("--connections", type=int, default=10, help="connections of the fixed-rate /play pass")
    ap.add_argument("--duration", default="30s")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of the private API server")
    ap.add_argument("--port", type=int, default=18766)
    ap.add_argument("--api-url", default="", help="benchmark this running API instead of starting one")
    ap.add_argument("--baseline", default="", help="another checkout (e.g. /work/main): its API is started too, "
                                                    "on --port + 1, and the fixed-rate passes alternate between "
                                                    "the two servers in the same run")
    ap.add_argument("--rounds", type=int, default=1, help="fixed-rate passes per server (alternating)")
    ap.add_argument("--no-max", action="store_true", help="skip the flat-out passes")
    ap.add_argument("--results", action="store_true",
                    help="write play_rate, play_p99_ms, healthz_p99_ms (this checkout's worst fixed-rate round) "
                         "and the baseline's into bench/results/delivery.json")
    args = ap.parse_args()

    s = get_settings()
    from vodflow.accounts import get_user_store
    from vodflow.auth.tokens import issue_access_token, issue_license_token
    from vodflow.drm.keystore import kid_to_b64url

    store = get_user_store(s.catalog_db_url)
    email = "bench-subscriber@bench.vodflow.local"
    user = store.by_email(email) or store.create(email, uuid.uuid4().hex, country="US", plan="standard",
                                                 role="viewer", subscription="active")
    token = issue_access_token(s, user, ttl_s=3600)
    print(f"setting up {args.titles} ready titles with content keys ...", flush=True)
    titles = setup_titles(s, args.titles)
    servers: list = []
    try:
        if args.api_url:
            urls = {"this": args.api_url.rstrip("/")}
            procs: dict = {"this": None}
        else:
            urls = {"this": f"http://127.0.0.1:{args.port}"}
            procs = {"this": start_server(s, args.workers, args.port)}
            if args.baseline:
                urls["baseline"] = f"http://127.0.0.1:{args.port + 1}"
                procs["baseline"] = start_server(s, args.workers, args.port + 1, Path(args.baseline).resolve())
        servers += [p for p in procs.values() if p is not None]
        url = urls["this"]
        ids = ", ".join(lua_str(v) for v, _ in titles)
        def fixed_script(delay_ms: float) -> str:
            return PLAY_LUA % {"ids": ids, "token": token, "device": DEVICE,
                               "delay": f"function delay() return {delay_ms:.3f} end"}

        flat = PLAY_LUA % {"ids": ids, "token": token, "device": DEVICE, "delay": ""}
        bodies = ", ".join(lua_str(json.dumps({"kids": [kid_to_b64url(k)], "type": "temporary"})) for _, k in titles)
        tokens = ", ".join(lua_str(issue_license_token(s, user_id=user.id, video_id=v, device_id=DEVICE))
                           for v, _ in titles)
        lic = LICENSE_LUA % {"bodies": bodies, "tokens": tokens, "device": DEVICE}
        # warm-up: the first requests of each worker load caches and open DB connections
        for u in urls.values():
            run_wrk(u, flat, "5s", 4, 1)
        # calibrate the think time so that C connections make `rate` requests/s: rate = C / (delay + latency)
        delay_ms = 1000.0 * args.connections / args.rate
        probe = run_wrk(url, fixed_script(delay_ms), "5s", args.connections, 1)
        latency_ms = max(0.0, 1000.0 * args.connections / probe["requests_per_s"] - delay_ms)
        delay_ms = max(0.0, 1000.0 * args.connections / args.rate - latency_ms)
        fixed = fixed_script(delay_ms)
        res: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_before": os.getloadavg(),
                     "workers": None if args.api_url else args.workers, "titles": args.titles,
                     "duration": args.duration, "baseline": args.baseline or None}
        # the fixed-rate passes, alternating between this checkout's server and the baseline's (same think
        # time, so both are offered the same rate); /healthz (one catalog SELECT 1, no auth) is the baseline
        # request: the tail this server and machine give any request
        for r in range(args.rounds):
            for name, u in urls.items():
                sfx = "" if name == "this" else "_baseline"
                sfx += "" if args.rounds == 1 else f"_{r + 1}"
                print(f"[{name}] /play at ~{args.rate}/s ({args.connections} connections, {delay_ms:.1f} ms between "
                      f"requests) ...", flush=True)
                res["play_at_rate" + sfx] = {"target_rate": args.rate, "connections": args.connections,
                                             "think_ms": round(delay_ms, 2), "load_avg": os.getloadavg(),
                                             **run_wrk(u, fixed, args.duration, args.connections, 1,
                                                       procs[name])}
                print(f"[{name}] /healthz at ~{args.rate}/s ...", flush=True)
                res["healthz_at_rate" + sfx] = {"target_rate": args.rate, "connections": args.connections,
                                                "load_avg": os.getloadavg(),
                                                **run_wrk(f"{u}/healthz",
                                                          f"function delay() return {delay_ms:.3f} end\n",
                                                          args.duration, args.connections, 1, procs[name])}
        if not args.no_max:
            print("/play flat out ...", flush=True)
            res["play_max"] = {"connections": 16, **run_wrk(url, flat, args.duration, 16, args.threads,
                                                            procs["this"])}
            print("license flat out ...", flush=True)
            res["license_max"] = {"connections": 16, **run_wrk(url, lic, args.duration, 16, args.threads,
                                                               procs["this"])}
        res["load_avg_after"] = os.getloadavg()
    finally:
        for server in servers:
            stop(server)
        teardown_titles(s, titles)
    bad = {k: v["non_2xx"] for k, v in res.items() if isinstance(v, dict) and v.get("non_2xx")}
    passes = [v for k, v in res.items() if k.startswith("play_at_rate") and "baseline" not in k]
    p99s = [v.get("p99_ms") for v in passes]
    res["target"] = {"play_p99_under_10ms_at_rate": all(p is not None and p < 10 for p in p99s)
                     and all(v["requests_per_s"] >= 0.95 * args.rate for v in passes)}
    if args.results:
        write_results(res)
    out = ROOT / "bench" / "out" / "playback_api.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    if bad:
        print(f"error: non-2xx answers {bad}: the numbers above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
