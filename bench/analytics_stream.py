"""Benchmark: POST /events (the API's ingestion rate), and the helpers the stream benchmarks share.

    .venv/bin/python bench/analytics_stream.py      # needs `vodflow up`

The stream itself (backlog, live rate, freshness, against the Kafka → Delta floor) is measured by
``bench/analytics_suite.py``; this script's old stream part (the two-query job, kafka-python at a
rate) is replaced by it. What follows is kept for the API part.

The API part: ``POST /events`` with batches of ``--api-batch`` events from ``--api-clients``
concurrent clients against a uvicorn server of the API (private topic); target 5,000 events/s.
Results go to ``bench/out/analytics_stream.json`` and ``docs/benchmarks-analytics.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import start_api, stop  # noqa: E402
from vodflow.settings import load  # noqa: E402


def make_topic(s, name: str, partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    a = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="vodflow-bench")
    try:
        a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        a.close()


def drop_topic(s, name: str) -> None:
    from kafka import KafkaAdminClient

    a = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="vodflow-bench")
    try:
        a.delete_topics([name])
    except Exception:  # noqa: BLE001
        pass
    finally:
        a.close()


def events_pool(n: int, seed: int = 1) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) pairs of clean simulator events with recent client timestamps, re-keyed
    so that repeating the pool never repeats an event_id."""
    from vodflow.analytics.simulate import simulate_sessions

    out: list[tuple[bytes, bytes]] = []
    vids = [str(uuid.uuid4()) for _ in range(200)]
    while len(out) < n:
        sim = simulate_sessions(2000, 20, vids, seed=seed, dup_rate=0.0, late_rate=0.0, malformed_rate=0.0)
        for e in sim.events:
            out.append((e["session_id"].encode(), json.dumps(e).encode()))
        seed += 1
    return out[:n]


def api_part(args, s) -> dict:
    import httpx

    topic = f"bench_api_{uuid.uuid4().hex[:8]}"
    make_topic(s, topic, args.partitions)
    st = load({**os.environ, "VODFLOW_TOPIC_EVENTS": topic,
               "VODFLOW_CATALOG_DB_URL": f"sqlite:///{ROOT / 'bench' / 'out' / 'bench_catalog.db'}"})
    port = 18765
    env = {**os.environ, "VODFLOW_TOPIC_EVENTS": topic, "VODFLOW_API_URL": f"http://127.0.0.1:{port}",
           "VODFLOW_CATALOG_DB_URL": st.catalog_db_url}
    server = start_api(port, args.api_workers, env)  # in its own process, like the service
    try:
        pool = [json.loads(v) for _, v in events_pool(args.api_batch * 40, seed=99)]
        batches = [pool[i:i + args.api_batch] for i in range(0, len(pool), args.api_batch)]
        for b in batches:
            for e in b:
                e.pop("server_ts", None)
        n_req = max(1, int(args.api_seconds * 20))
        sent = [0]
        lock = threading.Lock()

        from vodflow.auth.tokens import issue_service_token

        auth = {"Authorization": f"Bearer {issue_service_token(st, 'bench-events')}"}  # may post anyone's events

        def client(k: int) -> None:
            with httpx.Client(timeout=30, headers=auth) as c:
                for j in range(k, n_req, args.api_clients):
                    r = c.post(f"http://127.0.0.1:{port}/events", json={"events": batches[j % len(batches)]})
                    r.raise_for_status()
                    with lock:
                        sent[0] += r.json()["accepted"]

        t0 = time.monotonic()
        with ThreadPoolExecutor(args.api_clients) as ex:
            list(ex.map(client, range(args.api_clients)))
        el = time.monotonic() - t0
    finally:
        stop(server)
        drop_topic(s, topic)
    return {"api_batch": args.api_batch, "api_clients": args.api_clients, "api_workers": args.api_workers,
            "requests": n_req, "accepted": sent[0], "seconds": round(el, 2), "events_per_s": round(sent[0] / el)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--api-batch", type=int, default=500)
    ap.add_argument("--api-clients", type=int, default=4)
    ap.add_argument("--api-workers", type=int, default=2)
    ap.add_argument("--api-seconds", type=float, default=30)
    args = ap.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    s = load(dict(os.environ))
    res = {"machine": f"{os.cpu_count()} cores", "command": " ".join(["bench/analytics_stream.py"] + sys.argv[1:]),
           "api": api_part(args, s)}
    print(json.dumps(res["api"], indent=2), flush=True)
    out = ROOT / "bench" / "out" / "analytics_stream.json"
    out.write_text(json.dumps(res, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
