"""Benchmark: ``GET /users/{id}/recommendations`` at a fixed rate, response cache cold and warm (wrk).

    VODFLOW_HOME=/work/main/.vodflow .venv/bin/python bench/recs_serve.py --rate 500 --duration 30s
    # side by side with another checkout's API (same model, catalog, passes; its own .venv), one run:
    VODFLOW_HOME=/work/main/.vodflow /work/notes/quiet .venv/bin/python bench/recs_serve.py --baseline /work/main

Needs the stack's MLflow (`vodflow up`); nothing of the stack's own model or catalog is touched:

1. a model: the `implicit` ALS (the MovieLens benchmark's settings) fitted on
   ``--interactions`` synthetic interactions (:mod:`vodflow.recs.synthetic`), published the way the
   DAG's ``publish`` task does it (run artifact, model version, champion alias, serving-bundle tag)
   under a private registered model name (``bench-recs-serve-<id>``, deleted at the end);
2. a private catalog DB (SQLite, in a temporary directory) with every title of the model ready and
   worldwide, an admin account and its access token; a private, empty lake (so cold-start
   popularity comes from the bundle, not from the stack's gold tables);
3. the API app (``vodflow.api.app``, ``--workers`` uvicorn workers) on a private port with those
   settings and ``VODFLOW_RECS_MODEL`` naming the private model -- the real request path: auth,
   validation, the service's rules, the in-process response cache (``VODFLOW_REDIS_URL`` unset);
4. wrk at ``--rate`` requests/s (think time calibrated as in bench/playback_api.py):
   * **cold**: every request a user not asked before (the users in model order, never repeated
     within the run), so each one is a cache miss: scoring, seen mask, top-N, titles;
   * **warm**: ``--warm-users`` users, asked once before the pass, then rotated: cache hits;
   * the baseline, ``GET /healthz`` at the same rate: what any request costs on this server and machine.

5. with ``--baseline CHECKOUT``, the same warm-up and passes against that checkout's API afterwards
   (same port, model, catalog and users; its own in-process cache, so the cold users are cold again).

Each pass also reports the server's CPU milliseconds per request (psutil, server + workers), which
the load of other processes changes less than the latencies.

Results: ``bench/out/recs_serve.json`` and, merged into ``bench/results/recs.json``,
``serve_p99_ms_cold``, ``serve_p99_ms_warm``, ``serve_rate`` (the achieved requests/s of this checkout's
cold pass) and ``serve`` (the details: ``this`` and ``baseline`` passes, ``uptime`` before and after).
Non-2xx answers make the run fail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import commit, merge_results, start_api, stop  # noqa: E402
from playback_api import lua_str, run_wrk  # noqa: E402

from vodflow.settings import get_settings, load  # noqa: E402

USERS_LUA = r"""
local users = {%(users)s}
local i = 0
wrk.headers["Authorization"] = "Bearer %(token)s"
function request()
  i = i + 1
  return wrk.format("GET", "/users/" .. users[((i - 1) %% #users) + 1] .. "/recommendations?limit=20")
end
%(delay)s
"""


def build_model(n: int, seed: int):
    """(FactorModel with string ids, fit seconds): `implicit` ALS on synthetic interactions."""
    import numpy as np

    from vodflow.recs.baselines import fit_implicit_als
    from vodflow.recs.defaults import IMPLICIT_LIB_PARAMS
    from vodflow.recs.factors import FactorModel
    from vodflow.recs.synthetic import COL_VALUE, synthetic_interactions

    df = synthetic_interactions(n, seed)
    t0 = time.perf_counter()
    fm = fit_implicit_als(df, df[COL_VALUE].to_numpy(), IMPLICIT_LIB_PARAMS, num_threads=2)
    fit_s = time.perf_counter() - t0
    ns = uuid.UUID("6f1c1d4e-2b1e-4a3a-9a55-0d6b7f1b9e00")
    item_ids = np.array([str(uuid.uuid5(ns, str(int(i)))) for i in fm.item_ids.tolist()])
    user_ids = np.array([f"bench-u{int(u)}" for u in fm.user_ids.tolist()])
    return FactorModel(user_ids, item_ids, fm.user_factors, fm.item_factors, fm.seen_indptr, fm.seen_indices,
                       fm.item_popularity, {"model": "implicit-als", "bench": "recs_serve"}), fit_s


def setup_catalog(s, video_ids) -> None:
    """Every title ready and worldwide, in one transaction: the rows ``create_video`` ->
    ``start_processing`` -> ``mark_ready`` leave (those three take ~50 ms per title here, minutes
    for a 10k catalog)."""
    from vodflow.catalog import Catalog, db
    from vodflow.catalog.models import Rendition, Video, VideoStatus, utcnow

    cat = Catalog(s.catalog_db_url)  # creates the schema (migrations)
    now = utcnow()
    rows = [Video(id=vid, title=f"bench-recs {k}", status=VideoStatus.READY, source_key=f"masters/{vid}/original.mp4",
                  regions=[], hls_master_key=f"videos/{vid}/master.m3u8", created_at=now, updated_at=now,
                  ready_at=now, ingest_attempts=1, last_run_id="bench",
                  renditions=[Rendition(name="720p", width=1280, height=720, fps=25.0, codecs="avc1.64001f,mp4a.40.2",
                                        bandwidth=3_000_000)])
            for k, vid in enumerate(video_ids)]
    with db.transaction(s.catalog_db_url) as session:
        session.add_all(rows)
    ready = cat.list_videos(VideoStatus.READY, limit=len(rows) + 1)
    if len(ready) != len(rows):
        raise SystemExit(f"catalog setup: {len(ready)} ready titles, expected {len(rows)}")


def git_head(checkout: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def uptime() -> str:
    import subprocess

    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def script(user_list, token: str, delay_ms) -> str:
    return USERS_LUA % {"users": ", ".join(lua_str(u) for u in user_list), "token": token,
                        "delay": f"function delay() return {delay_ms:.3f} end" if delay_ms is not None else ""}


def passes(a, url: str, token: str, warm: list, cold_users: list, server) -> dict:
    """Warm-up, then the warm, cold and /healthz passes at ``a.rate`` against one running API."""
    import httpx

    # the first requests of each worker download the bundle and read the catalog: not timed
    t0 = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=300) as hc:
        for u in warm[: 4 * a.workers]:
            r = hc.get(f"{url}/users/{u}/recommendations")
            if r.status_code != 200:
                raise SystemExit(f"GET /users/{u}/recommendations -> {r.status_code} {r.text[:300]}")
    print(f"  first requests answered in {time.perf_counter() - t0:.1f} s", flush=True)
    first = run_wrk(url, script(warm, token, None), "5s", 4, 1)
    if first["non_2xx"] or not first["requests"]:
        r = httpx.get(f"{url}/users/{warm[0]}/recommendations", headers={"Authorization": f"Bearer {token}"},
                      timeout=60)
        raise SystemExit(f"warm-up failed ({first}): GET /users/{warm[0]}/recommendations -> "
                         f"{r.status_code} {r.text[:300]}")
    delay_ms = 1000.0 * a.connections / a.rate
    probe = run_wrk(url, script(warm, token, delay_ms), "5s", a.connections, 1)
    latency_ms = max(0.0, 1000.0 * a.connections / probe["requests_per_s"] - delay_ms)
    # never below half the nominal think time: a probe during a load spike must not turn the pass flat out
    delay_ms = max(500.0 * a.connections / a.rate, 1000.0 * a.connections / a.rate - latency_ms)
    out = {"think_ms": round(delay_ms, 2)}
    # warm first: the cache entries filled by the warm-up must not reach their TTL (60 s) mid-pass
    print(f"  warm: {len(warm)} users (cached), ~{a.rate}/s ...", flush=True)
    out["warm"] = run_wrk(url, script(warm, token, delay_ms), a.duration, a.connections, 1, server)
    print(f"  cold: {len(cold_users):,} users never asked before, ~{a.rate}/s ...", flush=True)
    # one wrk thread: it walks the list in order, so no user is asked twice while the list lasts
    out["cold"] = run_wrk(url, script(cold_users, token, delay_ms), a.duration, a.connections, 1, server)
    print("  baseline: /healthz at the same rate ...", flush=True)
    out["healthz"] = run_wrk(f"{url}/healthz", f"function delay() return {delay_ms:.3f} end\n",
                             a.duration, a.connections, 1, server)
    for k in ("warm", "cold", "healthz"):
        v = out[k]
        print(f"  {k}: {v['requests_per_s']}/s p50 {v.get('p50_ms')} p99 {v.get('p99_ms')} ms, "
              f"server CPU {v.get('server_cpu_ms_per_request')} ms/request", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interactions", type=int, default=1_000_000, help="synthetic interactions of the model")
    ap.add_argument("--rate", type=int, default=500, help="target requests per second")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--duration", default="30s")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of the private API server")
    ap.add_argument("--warm-users", type=int, default=200)
    ap.add_argument("--port", type=int, default=0, help="port of the private API server (default: a free one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "recs.json"))
    ap.add_argument("--baseline", default="", help="another checkout (e.g. /work/main, with its own .venv): its API "
                                                   "serves the same model, catalog and passes after this one's")
    a = ap.parse_args()
    seconds = float(a.duration.rstrip("s"))
    if not a.port:
        import socket

        with socket.socket() as so:  # a free port now; another process could take it before uvicorn binds
            so.bind(("127.0.0.1", 0))
            a.port = so.getsockname()[1]
    base = get_settings()
    model_name = f"bench-recs-serve-{uuid.uuid4().hex[:8]}"
    server = None
    res: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-recs-serve-") as tmp:
        env = {**os.environ, "VODFLOW_HOME": str(base.home), "VODFLOW_CATALOG_DB_URL": f"sqlite:///{tmp}/catalog.db",
               "VODFLOW_LAKE_URI": f"{tmp}/lake", "VODFLOW_RECS_MODEL": model_name, "VODFLOW_REDIS_URL": ""}
        s = load(env)
        print(f"model: implicit ALS on {a.interactions:,} synthetic interactions ...", flush=True)
        fm, fit_s = build_model(a.interactions, a.seed)
        users, titles = len(fm.user_ids), len(fm.item_ids)
        need = int(a.rate * seconds * 1.3)
        if users < need:
            print(f"warning: {users} users < {need} requests: the cold pass repeats users (use more --interactions)")
        print(f"{users:,} users, {titles:,} titles; catalog ...", flush=True)
        t0 = time.perf_counter()
        setup_catalog(s, fm.item_ids.tolist())
        print(f"catalog ready in {time.perf_counter() - t0:.0f} s; publishing {model_name} ...", flush=True)
        from vodflow.accounts import get_user_store
        from vodflow.auth.tokens import issue_access_token
        from vodflow.recs import registry

        admin = get_user_store(s.catalog_db_url).create(f"bench-{uuid.uuid4().hex[:8]}@bench.vodflow.local",
                                                        uuid.uuid4().hex, country="US", role="admin")
        token = issue_access_token(s, admin, ttl_s=3600)
        registry.serve_factor_file(registry.client(s), model_name, fm.save(Path(tmp) / "factors.npz"), "vodflow-bench")
        try:
            from vodflow.clients import s3_env

            ids = fm.user_ids.tolist()
            warm = ids[: a.warm_users]
            cold_users = ids[a.warm_users:]
            res = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_before": os.getloadavg(),
                   "uptime_before": uptime(), "workers": a.workers, "users": users, "titles": titles,
                   "rank": fm.rank, "interactions": a.interactions, "model_fit_s": round(fit_s, 2),
                   "duration": a.duration, "connections": a.connections, "target_rate": a.rate}
            checkouts = [("this", str(ROOT), sys.executable)]
            if a.baseline:
                checkouts.append(("baseline", a.baseline, str(Path(a.baseline) / ".venv" / "bin" / "python")))
                res["baseline_checkout"] = {"path": a.baseline, "commit": git_head(a.baseline)}
            for tag, cwd, python in checkouts:
                server = start_api(a.port, a.workers, {**env, **s3_env(s)}, extra=("--no-access-log",),
                                   cwd=cwd, python=python)
                print(f"[{tag}] API of {cwd} on :{a.port}", flush=True)
                res[tag] = passes(a, f"http://127.0.0.1:{a.port}", token, warm, cold_users, server)
                stop(server)
                server = None
            res["load_avg_after"] = os.getloadavg()
            res["uptime_after"] = uptime()
        finally:
            if server is not None:
                stop(server)
            try:
                registry.client(s).delete_registered_model(model_name)
            except Exception as e:  # noqa: BLE001
                print(f"warning: could not delete registered model {model_name}: {e}", file=sys.stderr)
    bad = {f"{t}.{k}": v["non_2xx"] for t in ("this", "baseline") for k, v in res.get(t, {}).items()
           if isinstance(v, dict) and v.get("non_2xx")}
    out = ROOT / "bench" / "out" / "recs_serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    if bad or "cold" not in res.get("this", {}):
        print(f"error: non-2xx answers {bad}: the numbers above are not valid", file=sys.stderr)
        return 1
    merge_results(Path(a.results), {
        "serve_p99_ms_cold": res["this"]["cold"].get("p99_ms"), "serve_p99_ms_warm": res["this"]["warm"].get("p99_ms"),
        "serve_rate": res["this"]["cold"]["requests_per_s"],
        "serve": {**res, "command": "bench/recs_serve.py " + " ".join(sys.argv[1:]), "commit": commit()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit()})
    print(f"wrote {out} and {a.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
