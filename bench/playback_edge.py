"""Edge benchmark: segment throughput and hit ratio of the caching edge for a Zipf workload.

    .venv/bin/python bench/playback_edge.py --titles 20 --segments 20 --duration 20s --connections 16

1. The catalog: ``--existing`` uses every published segment in the origin bucket
   (``videos/<id>/<publish>/**.m4s``); otherwise ``--titles`` synthetic titles of ``--segments`` segments
   of ``--segment-kb`` are published once under ``videos/bench-edge-<n>/`` with publish's headers.
2. The workload: ``--requests`` request paths, titles drawn from a Zipf distribution (exponent
   ``--zipf``; title popularity rank = index), a random segment of the title; each path carries the
   title's signed query (one signature per title, as the player sends it).
3. wrk (Lua script over the path list, each thread starting at a different offset) runs a cold pass then
   a warm pass against the edge; the hit ratio and the number of origin requests of each pass are read
   from the edge's access log and origin log (only the lines the pass appended).

Prints one JSON object (requests/s, MB/s, latency percentiles, hit ratios, origin requests). Run it
alone on the machine: it is CPU bound on 2 cores and shares them with nginx and the API.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import wrk  # noqa: E402

from vodflow.cdn import edge as edge_files  # noqa: E402
from vodflow.cdn.signing import sign_prefix  # noqa: E402
from vodflow.clients import s3_client  # noqa: E402
from vodflow.ingest.publish import content_headers, list_keys  # noqa: E402
from vodflow.settings import get_settings  # noqa: E402

LUA = r"""
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end
local i = 0
function init(args)
  i = tonumber(offset) or 0
end
function request()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def publish_synthetic(s, titles: int, segments: int, segment_kb: int) -> dict[str, list[str]]:
    client = s3_client(s)
    catalog: dict[str, list[str]] = {}
    jobs = []
    for t in range(titles):
        prefix = f"videos/bench-edge-{t:04d}/p0/"
        names = [f"{prefix}v1/seg_{i:05d}.m4s" for i in range(segments)]
        catalog[f"videos/bench-edge-{t:04d}/"] = names
        marker = f"{prefix}.complete-{segments}-{segment_kb}"
        try:
            client.head_object(Bucket=s.bucket_origin, Key=marker)
            continue
        except Exception:  # noqa: BLE001 - not published yet
            jobs.append((names, marker))

    def put(key: str) -> None:
        ctype, cache = content_headers(key)
        client.put_object(Bucket=s.bucket_origin, Key=key, Body=os.urandom(segment_kb * 1024), ContentType=ctype,
                          CacheControl=cache)

    with ThreadPoolExecutor(4) as pool:
        for names, marker in jobs:
            list(pool.map(put, names))
            client.put_object(Bucket=s.bucket_origin, Key=marker, Body=b"")
    return catalog


def existing_catalog(s) -> dict[str, list[str]]:
    catalog: dict[str, list[str]] = {}
    for key in list_keys("videos/", s.bucket_origin, s):
        if key.endswith(".m4s"):
            title = "/".join(key.split("/")[:2]) + "/"
            catalog.setdefault(title, []).append(key)
    return catalog


def zipf_paths(s, catalog: dict[str, list[str]], n: int, exponent: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    titles = sorted(catalog)
    rng.shuffle(titles)  # popularity rank independent of the name
    weights = [1.0 / (rank + 1) ** exponent for rank in range(len(titles))]
    signed = {t: sign_prefix(s, "/" + t, time.time() + 3600).query for t in titles}
    picks = rng.choices(titles, weights=weights, k=n)
    return [f"/{rng.choice(catalog[t])}?{signed[t]}" for t in picks]


def _tail(path: Path, offset: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def run_wrk(url: str, script: Path, duration: str, connections: int, threads: int) -> dict:
    out = wrk(url, str(script), duration, connections, threads)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, flags=re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(transfer.group(1)) * {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"requests_per_s": rps, "mb_per_s": round(mb, 1), "latency": lat,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "wrk": out}


def measure_pass(s, script: Path, args) -> dict:
    access, origin = edge_files.access_log(s), edge_files.origin_log(s)
    a0, o0 = _size(access), _size(origin)
    res = run_wrk(edge_files.edge_local_url(s), script, args.duration, args.connections, args.threads)
    time.sleep(0.5)
    lines = [ln for ln in _tail(access, a0) if '"GET /videos/' in ln]
    statuses = [m.group(1) for ln in lines if (m := re.search(r"cache=(\S+)", ln))]
    hits = sum(st == "HIT" for st in statuses)
    res.update({"edge_requests": len(statuses), "hit_ratio": round(hits / len(statuses), 4) if statuses else None,
                "origin_requests": len(_tail(origin, o0))})
    res.pop("wrk")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--existing", action="store_true", help="use the published titles in the origin bucket")
    ap.add_argument("--titles", type=int, default=20)
    ap.add_argument("--segments", type=int, default=20)
    ap.add_argument("--segment-kb", type=int, default=64)
    ap.add_argument("--requests", type=int, default=20000, help="length of the Zipf request list")
    ap.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of title popularity")
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    s = get_settings()
    catalog = existing_catalog(s) if args.existing else publish_synthetic(s, args.titles, args.segments,
                                                                          args.segment_kb)
    if not catalog:
        raise SystemExit("no segments to request: publish titles first or drop --existing")
    paths = zipf_paths(s, catalog, args.requests, args.zipf, args.seed)
    with tempfile.TemporaryDirectory() as td:
        plist = Path(td) / "paths.txt"
        plist.write_text("\n".join(paths) + "\n")
        script = Path(td) / "zipf.lua"
        script.write_text(LUA % {"paths": plist})
        cold = measure_pass(s, script, args)
        warm = measure_pass(s, script, args)
    print(json.dumps({"titles": len(catalog), "objects": sum(len(v) for v in catalog.values()),
                      "zipf": args.zipf, "connections": args.connections, "duration": args.duration,
                      "cold": cold, "warm": warm}, indent=2))


if __name__ == "__main__":
    main()
