"""Popularity-driven edge vs the static edge: one Zipf workload with a popularity shift, both edges, one run.

    .venv/bin/python bench/edge_popularity.py            # needs nginx only (private origin, edges, verifier)

1. ``--titles`` synthetic titles (3 rungs of ``--segments`` segments, 16/32/64 KiB, plus master, media
   playlists and init segments; ~1.1 MiB a title) are written under a private origin: an nginx on its
   own port serving them with publish's Cache-Control (a year for segments, 10 s + stale-while-revalidate
   for playlists), ETag and Last-Modified (so revalidations are 304s). Nothing of the stack is used.
2. Two nginx edges from this checkout's config, on private ports, same origin, same verifier (this
   checkout's API in a thread), same cache capacity ``--cache-mb``:
   * **static**: no policy, no fill -- every title kept as the origin says, filled by viewers' misses
     (the edge before issue 17);
   * **policy**: the edge policy -- the long tail's objects revalidated after ``--tail-ttl`` s -- and,
     after each policy, the fill ahead of demand (vodflow.cdn.policy.fill_plan + vodflow.cdn.prewarm.fill,
     through the signed path): popular titles whole, the other watched titles whole, every other title's
     first ``--prewarm`` segments per rung, until ``--fill-share`` of the cache is filled.
3. The workload (fixed by issue 17): ``--sessions`` viewing sessions; a session picks a title from a Zipf
   distribution (exponent ``--zipf``) over popularity ranks of ``--titles`` titles, a rung (360p 20 %,
   720p 50 %, 1080p 30 %), and watches a geometric number of segments (mean 4, at most ``--segments``;
   all of them = completed). It requests the master playlist, its rung's playlist, the init segment and
   its segments, signed, first from the static edge and then from the policy edge (same requests, same
   order). Halfway the title at rank ``--shift-rank`` (cold) becomes rank 1 (the most watched).
4. The edge_policy DAG, simulated on the workload's own "gold" (sessions per title and simulated hour,
   completions): every ``--hour`` sessions (the hourly run) and, after the shift, as soon as the last hour
   shows the jump (gold's trigger: >= 10 starts and 3x the hourly mean) it decides the policy with the
   real code (vodflow.cdn.policy), writes the map, reloads the policy edge and fills it. The static edge
   gets nothing.

Hit = the edge answered without fetching the body from the origin (HIT, STALE, UPDATING, REVALIDATED).
Warm-up = the first ``--warmup`` (20 %) of the sessions: hit ratios count every request of the sessions
after it. The trending title's number counts its segment and init requests in its first 100 sessions
after its prewarm (the static edge: the same sessions). Origin bytes are summed from each edge's origin
log (the policy edge's split into the fill's and the viewers' misses). ``static_compulsory_bound``: the
share of requests after warm-up that are not the first request of their object -- the best any cache
filled only by viewers can do, whatever its size. Results go to bench/results/delivery.json (other keys
of that file are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vodflow.cdn import edge as edge_files  # noqa: E402
from vodflow.cdn.edge import reload_edge  # noqa: E402
from vodflow.cdn.policy import HourViews, choose, fill_budget, fill_plan, score_titles, write_policy  # noqa: E402
from vodflow.cdn.prewarm import fill  # noqa: E402
from vodflow.cdn.signing import sign_prefix  # noqa: E402
from vodflow.settings import Settings, load  # noqa: E402

RUNGS = {"360p": 16, "720p": 32, "1080p": 64}          # KiB per segment
RUNG_WEIGHTS = {"360p": 0.2, "720p": 0.5, "1080p": 0.3}
HIT_STATES = {"HIT", "STALE", "UPDATING", "REVALIDATED"}
PUBLIC_EDGE = "http://bench-edge.local"                # the edges' public name: one verifier serves both


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- titles
def title_id(n: int) -> str:
    return f"bench-pop-{n:03d}"


def title_files(n: int, segments: int) -> dict[str, bytes]:
    vid = title_id(n)
    master = ["#EXTM3U", "#EXT-X-VERSION:7"]
    files: dict[str, bytes] = {}
    for rung, kib in RUNGS.items():
        master += [f"#EXT-X-STREAM-INF:BANDWIDTH={kib * 64000}", f"{rung}/index.m3u8"]
        pl = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", '#EXT-X-MAP:URI="init.mp4"']
        for i in range(1, segments + 1):
            pl += ["#EXTINF:4.0,", f"seg_{i}.m4s"]
            files[f"p/{rung}/seg_{i}.m4s"] = (f"{vid}/{rung}/{i}".encode() * 1024)[: kib * 1024].ljust(kib * 1024, b".")
        files[f"p/{rung}/index.m3u8"] = ("\n".join(pl + ["#EXT-X-ENDLIST"]) + "\n").encode()
        files[f"p/{rung}/init.mp4"] = f"init {vid} {rung}".encode().ljust(1024, b".")
    files["p/master.m3u8"] = ("\n".join(master) + "\n").encode()
    return files


def write_titles(bucket_dir: Path, titles: int, segments: int) -> int:
    """The titles' objects under ``<origin root>/<bucket>/videos/<id>/``; returns their bytes."""
    total = 0
    for n in range(titles):
        for name, body in title_files(n, segments).items():
            f = bucket_dir / "videos" / title_id(n) / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(body)
            total += len(body)
    return total


ORIGIN_CONF = """daemon off;
{user}
worker_processes 1;
pid {root}/origin.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    types {{ application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }}
    map $uri $cache_control {{ "~\\.m3u8$" "{playlist}"; default "{immutable}"; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ add_header Cache-Control $cache_control; }}
    }}
}}
"""


@contextlib.contextmanager
def private_origin(root: Path, bucket: str, titles: int, segments: int):
    """nginx serving the titles as the origin gateway would (publish's Cache-Control, ETag, 304s)."""
    from vodflow.ingest.publish import IMMUTABLE, PLAYLIST

    total = write_titles(root / "www" / bucket, titles, segments)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd

        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    port = free_port()
    conf = root / "origin.conf"
    conf.write_text(ORIGIN_CONF.format(user=user, root=root, port=port, playlist=PLAYLIST, immutable=IMMUTABLE))
    log = open(root / "origin-nginx.log", "w")
    proc = subprocess.Popen([edge_files.nginx_binary(), "-p", str(root), "-e", "stderr", "-c", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    import httpx

    url = f"http://127.0.0.1:{port}"
    probe = f"{url}/{bucket}/videos/{title_id(0)}/p/master.m3u8"
    for _ in range(200):
        try:
            if httpx.get(probe, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    print(f"origin: {titles} titles, {total / 2**20:.1f} MiB at {url}", file=sys.stderr)
    try:
        yield url, total
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


# ----------------------------------------------------------------------------- edges
@contextlib.contextmanager
def verifier(root: Path, keys: dict[str, str]):
    """This checkout's API (its /edge/verify) in a thread, with the bench's CDN key pair."""
    import threading

    import uvicorn

    from vodflow.api.app import create_app

    port = free_port()
    s = load({**os.environ, "VODFLOW_HOME": str(root / "api"), "VODFLOW_CATALOG_DB_URL": f"sqlite:///{root}/api.db",
              "VODFLOW_EDGE_URL": PUBLIC_EDGE, **keys})
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", s
    finally:
        server.should_exit = True
        t.join(15)


@contextlib.contextmanager
def edge(root: Path, name: str, api_url: str, origin_url: str, keys: dict[str, str], cache_mb: int, tail_ttl: int,
         fill_share: float):
    port = free_port()
    s = load({**os.environ, "VODFLOW_HOME": str(root / name), "VODFLOW_API_URL": api_url,
              "VODFLOW_EDGE_PORT": str(port), "VODFLOW_EDGE_URL": PUBLIC_EDGE, "VODFLOW_EDGE_ORIGIN_URL": origin_url,
              "VODFLOW_EDGE_CACHE_SIZE": f"{cache_mb}m", "VODFLOW_EDGE_TAIL_TTL": str(tail_ttl),
              "VODFLOW_EDGE_FILL_SHARE": str(fill_share), **keys})
    edge_files.render_nginx_conf(s)
    edge_files.check_nginx_conf(s)
    log = open(root / f"{name}-nginx.log", "w")
    proc = subprocess.Popen(edge_files.nginx_argv(s), stdout=log, stderr=subprocess.STDOUT)
    import httpx

    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_edge/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield s, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def origin_bytes(s: Settings) -> int:
    total = 0
    with open(edge_files.origin_log(s)) as f:
        for line in f:
            m = re.search(r'" (\d{3}) (\d+) ', line)
            if m:
                total += int(m.group(2))
    return total


# ----------------------------------------------------------------------------- workload
@dataclass
class Session:
    title: int
    rung: str
    segments: int


def workload(args, rng: random.Random) -> tuple[list[Session], int]:
    ranks = list(range(args.titles))               # rank r -> title r (first half)
    weights = [1 / (r + 1) ** args.zipf for r in range(args.titles)]
    trending = ranks[args.shift_rank]
    shifted = [trending] + [t for t in ranks if t != trending]
    out = []
    for i in range(args.sessions):
        order = ranks if i < args.sessions // 2 else shifted
        title = order[rng.choices(range(args.titles), weights)[0]]
        rung = rng.choices(list(RUNG_WEIGHTS), list(RUNG_WEIGHTS.values()))[0]
        n = min(args.segments, 1 + int(math.log(1 - rng.random()) / math.log(0.75)))   # geometric, mean 4
        out.append(Session(title, rung, n))
    return out, trending


def requests_of(sess: Session) -> list[tuple[str, bool]]:
    """(path below the title, is a segment or init) in the order a player asks."""
    r = sess.rung
    return ([("p/master.m3u8", False), (f"p/{r}/index.m3u8", False), (f"p/{r}/init.mp4", True)]
            + [(f"p/{r}/seg_{i}.m4s", True) for i in range(1, sess.segments + 1)])


def lru_hit_ratio(sessions: list[Session], sizes: dict[str, int], capacity: int, warm: int) -> float:
    """The trace's hit ratio after the warm-up on an ideal least-recently-used cache of ``capacity`` bytes
    filled only by misses: what the static edge can do at that size (nginx's cache manager is close)."""
    from collections import OrderedDict

    cache: OrderedDict = OrderedDict()
    used = hits = n = 0
    for i, sess in enumerate(sessions):
        for path, _ in requests_of(sess):
            key = (sess.title, path)
            hit = key in cache
            if hit:
                cache.move_to_end(key)
            else:
                cache[key] = sizes[path]
                used += sizes[path]
                while used > capacity:
                    used -= cache.popitem(last=False)[1]
            if i >= warm:
                n += 1
                hits += hit
    return round(hits / n, 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--segments", type=int, default=10, help="segments per rung")
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--shift-rank", type=int, default=150, help="rank of the title that becomes the most watched")
    ap.add_argument("--cache-mb", type=int, default=512,
                    help="cache capacity of each edge in MiB (the catalog: ~220 MiB; VODFLOW_EDGE_CACHE_SIZE: 2g)")
    ap.add_argument("--fill-share", type=float, default=0.5, help="VODFLOW_EDGE_FILL_SHARE of the policy edge")
    ap.add_argument("--tail-ttl", type=int, default=600, help="VODFLOW_EDGE_TAIL_TTL of the policy edge")
    ap.add_argument("--top", type=int, default=20, help="popular titles besides the trending ones")
    ap.add_argument("--prewarm", type=int, default=3,
                    help="segments per rung filled for a title not watched lately (VODFLOW_EDGE_PREWARM_SEGMENTS)")
    ap.add_argument("--hour", type=int, default=125, help="sessions per simulated hour (the DAG runs hourly)")
    ap.add_argument("--warmup", type=float, default=0.2, help="share of the sessions left out of the hit ratios")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "delivery.json")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "edge-popularity.png",
                    help="hit ratio per 100 sessions of both edges (empty: no plot)")
    args = ap.parse_args()

    import httpx

    base = load()
    sessions, trending = workload(args, random.Random(args.seed))
    root = Path(tempfile.mkdtemp(prefix="edge-pop-"))
    keydir = root / "keys"
    keydir.mkdir()
    keys = {"VODFLOW_CDN_PRIVATE_KEY_FILE": str(keydir / "cdn.pem")}
    _make_key(keydir / "cdn.pem")
    t0 = time.monotonic()
    load_before = os.getloadavg()
    with private_origin(root / "origin", base.bucket_origin, args.titles, args.segments) as (origin_url, catalog_b), \
            verifier(root, keys) as (api_url, sapi), \
            edge(root, "static", api_url, origin_url, keys, args.cache_mb, args.tail_ttl, args.fill_share) \
            as (s_static, url_static), \
            edge(root, "policy", api_url, origin_url, keys, args.cache_mb, args.tail_ttl, args.fill_share) \
            as (s_pol, url_pol):
        expires = time.time() + 4 * 3600
        signed = {t: sign_prefix(sapi, f"/videos/{title_id(t)}/", expires).query for t in range(args.titles)}
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=4))
        clock0 = datetime(2026, 12, 5, tzinfo=timezone.utc)
        views: dict[tuple[int, int], list[int]] = {}      # (title, hour) -> [starts, completions]
        results = {"static": [], "policy": []}            # per request: (session index, title, is_segment, hit)
        prewarmed_at: int | None = None
        runs = []

        def dag_run(i: int, why: str) -> None:
            hour = i // args.hour
            now = clock0 + timedelta(hours=hour, minutes=30)
            rows = [HourViews(title_id(t), clock0 + timedelta(hours=h), v[0], v[1]) for (t, h), v in views.items()]
            p = choose(score_titles(rows, now), args.top, tail_ttl_s=args.tail_ttl, now=now)
            write_policy(s_pol, p)
            reload_edge(s_pol)
            time.sleep(0.5)                                 # the new workers take over
            ready = [title_id(t) for t in range(args.titles)]
            plan = fill_plan(p, ready, args.prewarm)
            f = fill(s_pol, plan, {v: (f"videos/{v}/p/master.m3u8", None) for v in ready}, fill_budget(s_pol),
                     edge_base=url_pol, client=client)
            if f["errors"]:
                raise SystemExit(f"the fill failed: {f['errors'][:3]}")
            runs.append({"session": i, "why": why, "popular": len(p.popular),
                         "trending": [h.video_id for h in p.popular if h.trending], "fill_titles": f["titles"],
                         "fill_bytes": f["bytes"], "fill_origin_bytes": f["filled_bytes"],
                         "fill_objects": f["objects_filled"]})

        for i, sess in enumerate(sessions):
            if i and i % args.hour == 0:
                dag_run(i, "hourly")
            hour = i // args.hour
            v = views.setdefault((sess.title, hour), [0, 0])
            v[0] += 1
            v[1] += sess.segments == args.segments
            if (prewarmed_at is None and i >= args.sessions // 2 and sess.title == trending and v[0] >= 10):
                dag_run(i + 1, "gold shows the jump")
                prewarmed_at = i + 1
            for name, url in (("static", url_static), ("policy", url_pol)):
                for path, is_seg in requests_of(sess):
                    r = client.get(f"{url}/videos/{title_id(sess.title)}/{path}?{signed[sess.title]}")
                    if r.status_code != 200:
                        raise SystemExit(f"{name} edge answered {r.status_code} for {path}: {r.text[:200]}")
                    results[name].append((i, sess.title, is_seg, r.headers.get("X-Cache-Status") in HIT_STATES))
            if i % 500 == 0:
                print(f"session {i}/{args.sessions}", file=sys.stderr)
        client.close()
        elapsed = time.monotonic() - t0
        warm = int(args.sessions * args.warmup)

        def ratio(rows) -> float:
            rows = list(rows)
            return round(sum(r[3] for r in rows) / len(rows), 4) if rows else float("nan")

        trend_sessions = [i for i, sess in enumerate(sessions) if sess.title == trending
                          and prewarmed_at is not None and i >= prewarmed_at][:100]
        first_trend = [i for i, sess in enumerate(sessions) if sess.title == trending
                       and i >= args.sessions // 2][:100]
        tset, fset = set(trend_sessions), set(first_trend)
        seen: set = set()
        first_asks = 0                                   # after warm-up: first request of an object
        for r, sess in enumerate(sessions):
            for path, _ in requests_of(sess):
                key = (sess.title, path)
                if key not in seen:
                    seen.add(key)
                    first_asks += r >= warm
        after = sum(1 for r in results["static"] if r[0] >= warm)
        sizes = {path: len(body) for path, body in title_files(0, args.segments).items()}
        lru_model = {f"{mb}MiB": lru_hit_ratio(sessions, sizes, mb << 20, warm)
                     for mb in sorted({64, 128, args.cache_mb})}
        fill_origin = sum(x["fill_origin_bytes"] for x in runs)
        out = {
            "static_hit_ratio": ratio(r for r in results["static"] if r[0] >= warm),
            "policy_hit_ratio": ratio(r for r in results["policy"] if r[0] >= warm),
            "trending_first100_hit_ratio": ratio(r for r in results["policy"] if r[0] in tset and r[2]),
            "trending_first100_hit_ratio_static": ratio(r for r in results["static"] if r[0] in tset and r[2]),
            "trending_from_shift_first100_hit_ratio_policy": ratio(r for r in results["policy"]
                                                                   if r[0] in fset and r[2]),
            "trending_from_shift_first100_hit_ratio_static": ratio(r for r in results["static"]
                                                                   if r[0] in fset and r[2]),
            "origin_bytes_static": origin_bytes(s_static),
            "origin_bytes_policy": origin_bytes(s_pol),
            "origin_bytes_policy_fill": fill_origin,
            "origin_bytes_policy_viewers": origin_bytes(s_pol) - fill_origin,
            "static_compulsory_bound": round(1 - first_asks / after, 4),
            "static_lru_model_hit_ratio": lru_model,
            "second_half_hit_ratio_static": ratio(r for r in results["static"] if r[0] >= args.sessions // 2),
            "second_half_hit_ratio_policy": ratio(r for r in results["policy"] if r[0] >= args.sessions // 2),
        }
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "plot")}
    per = {name: [ratio(r for r in rows if r[0] // 100 == w) for w in range(math.ceil(args.sessions / 100))]
           for name, rows in results.items()}
    edge_bench = {"params": params, "requests_per_edge": len(results["static"]),
                  "trending_title": title_id(trending), "trending_prewarmed_after_session": prewarmed_at,
                  "catalog_bytes": catalog_b, "hit_ratio_per_100_sessions": per, "dag_runs": runs,
                  "elapsed_s": round(elapsed, 1),
                  "load_avg_before": [round(x, 2) for x in load_before],
                  "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                  "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    edge_bench["commit"] = commit
    doc = json.loads(args.out.read_text()) if args.out.exists() else {}
    doc.update(out)
    doc["edge_popularity"] = edge_bench
    doc["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["commit"] = commit
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({**out, "elapsed_s": edge_bench["elapsed_s"]}, indent=1))
    if str(args.plot) not in ("", "."):
        plot(args, edge_bench, out)
    import shutil

    shutil.rmtree(root, ignore_errors=True)          # the origin, the edges' homes, caches and logs


def plot(args, bench: dict, out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = bench["hit_ratio_per_100_sessions"]
    xs = [100 * w + 50 for w in range(len(per["static"]))]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(xs, per["static"], "o-", label=f"static edge ({out['static_hit_ratio']:.1%} after warm-up)")
    ax.plot(xs, per["policy"], "s-", label=f"policy edge + fill ({out['policy_hit_ratio']:.1%} after warm-up)")
    ax.axvspan(0, args.sessions * args.warmup, color="0.9", label="warm-up")
    ax.axvline(args.sessions // 2, color="r", ls="--", lw=1, label="shift: a cold title becomes #1")
    for r in bench["dag_runs"]:
        ax.axvline(r["session"], color="0.6", lw=0.5)
    ax.axhline(0.98, color="g", ls=":", lw=1, label="target 98 %")
    ax.set_xlabel("session (grey lines: edge_policy DAG runs)")
    ax.set_ylabel("hit ratio per 100 sessions")
    ax.set_ylim(0.2, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{args.titles} titles, Zipf {args.zipf}, cache {args.cache_mb} MiB per edge", fontsize=9)
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"plot: {args.plot}", file=sys.stderr)


def _make_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # unwind: the edges' nginx are stopped
    main()
