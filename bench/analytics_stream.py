"""Benchmark: player events → Kafka → analytics stream → gold, and POST /events.

    .venv/bin/python bench/analytics_stream.py --rate 20000 --seconds 120      # needs `vodflow up`

Part 1 (stream): pre-generates simulator sessions, produces them to a private topic at ``--rate``
events/s for ``--seconds`` (kafka-python, linger + batching), while ``jobs/events_stream.py`` runs
continuously in its own process (the service's code and settings, on a private lake). Reports the
sustained rate into gold (events folded into gold per second of wall time, between the first and
the last gold commit of the steady state) and freshness (event produced → visible in gold) at
p50/p99 from the stream's own ``gold_progress`` histogram. The named target: 20,000 events/s into
gold with p99 freshness under 60 s.

With ``--backlog N`` part 1 measures capacity instead: N events are put on the topic first, then the
stream starts with the machine to itself and the rate into gold is timed (no freshness).

Part 2 (API): ``POST /events`` with batches of ``--api-batch`` events from ``--api-clients``
concurrent clients against a uvicorn server of the API (private topic); target 5,000 events/s.
Results go to ``bench/out/analytics_stream.json`` and ``docs/benchmarks-analytics.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


def produce_at_rate(s, topic: str, pool, rate: int, seconds: float, stop: threading.Event) -> dict:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks=1, linger_ms=50, batch_size=512 * 1024,
                      max_in_flight_requests_per_connection=5)
    sent, t0 = 0, time.monotonic()
    tick = 0.05
    i = 0
    while not stop.is_set():
        el = time.monotonic() - t0
        if el >= seconds:
            break
        due = int(rate * el)
        while sent < due and (sent % 1000 or time.monotonic() - t0 < seconds):  # a slow producer stops on time
            k, v = pool[i % len(pool)]
            if i >= len(pool):  # later passes over the pool: a fresh event id (same length, cheap bytes swap)
                j = v.index(b'"event_id": "') + 13
                v = v[:j] + str(uuid.uuid4()).encode() + v[j + 36:]
            p.send(topic, key=k, value=v)
            sent += 1
            i += 1
        time.sleep(tick)
    p.flush()
    el = time.monotonic() - t0
    p.close()
    return {"produced": sent, "produce_seconds": round(el, 2), "produce_rate": round(sent / el)}


def produce_backlog(s, topic: str, events) -> dict:
    """Put ``events`` on the topic as fast as kafka-python can (before the stream starts)."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks=1, linger_ms=50, batch_size=512 * 1024)
    t0 = time.monotonic()
    for k, v in events:
        p.send(topic, key=k, value=v)
    p.flush()
    p.close()
    el = time.monotonic() - t0
    return {"produced": len(events), "produce_seconds": round(el, 2), "produce_rate": round(len(events) / el)}


def gold_rows(lake: str):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(f"{lake}/_state/gold_progress").to_pyarrow_table().to_pylist()
    except TableNotFoundError:
        return []


def quarantined(table: str) -> int:
    """Rows the stream quarantined (a clean pool should have none; counted so a run never waits for them)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return len(DeltaTable(table).to_pyarrow_table(columns=["kind"]))
    except TableNotFoundError:
        return 0


def stream_part(args, s) -> dict:
    from vodflow.analytics import tables as T

    topic = f"bench_events_{uuid.uuid4().hex[:8]}"
    lake = str(ROOT / "bench" / "out" / f"lake_{topic}")
    quarantine = T.QUARANTINE.location(load({**os.environ, "VODFLOW_LAKE_URI": lake}))
    make_topic(s, topic, args.partitions)
    env = {**os.environ, "VODFLOW_TOPIC_EVENTS": topic, "VODFLOW_LAKE_URI": lake,
           "VODFLOW_EVENTS_TRIGGER": args.trigger, "VODFLOW_EVENTS_LATENESS": args.lateness,
           "VODFLOW_EVENTS_MAX_OFFSETS": str(args.max_offsets or "")}
    log = open(ROOT / "bench" / "out" / "analytics_stream.log", "w")
    status = ROOT / "bench" / "out" / "analytics_stream_status.json"
    print(f"pre-generating {args.pool:,} events ...", flush=True)
    pool = events_pool(max(args.pool, args.backlog))
    prod = None
    if args.backlog:  # capacity mode: the whole load is on the topic before the stream starts
        prod = produce_backlog(s, topic, pool[:args.backlog])
        print(f"backlog: {prod['produced']:,} events on the topic ({prod['produce_rate']:,}/s)", flush=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "jobs" / "events_stream.py"), "--mode", "continuous",
                             "--status-file", str(status)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not status.exists():  # the stream is up (queries started) before we start the clock
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stream did not start; see {log.name}")
            time.sleep(1)
        t_start = time.time()
        if prod is None:
            print(f"producing {args.rate:,} events/s for {args.seconds} s to {topic} ({args.partitions} partitions)",
                  flush=True)
            prod = produce_at_rate(s, topic, pool, args.rate, args.seconds, threading.Event())
        print(f"produced {prod['produced']:,} at {prod['produce_rate']:,}/s; waiting for gold ...", flush=True)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            done = sum(r["events"] for r in gold_rows(lake))
            if done >= prod["produced"] or (done and done + quarantined(quarantine) >= prod["produced"]):
                break
            time.sleep(2)
        else:
            print(f"warning: gold has {done:,} of {prod['produced']:,} events after {args.drain:.0f} s", flush=True)
        rows = sorted(gold_rows(lake), key=lambda r: r["batch_id"])
    finally:
        stop(proc, 60)
        drop_topic(s, topic)
    total = sum(r["events"] for r in rows)
    hist = [0] * len(rows[0]["freshness_hist"]) if rows else []
    for r in rows:
        for i, c in enumerate(r["freshness_hist"]):
            hist[i] += c

    def pct(q):
        want, acc = q * total, 0
        for i, c in enumerate(hist):
            acc += c
            if acc >= want:
                return i + 1  # upper edge of the 1 s bucket
        return None

    if args.backlog:  # freshness of a backlog is its age, not the stream's: report capacity only
        wall = (rows[-1]["committed_at"].timestamp() if rows else t_start) - t_start
        return {"mode": "backlog", "topic_partitions": args.partitions, "trigger": args.trigger,
                "max_offsets_per_trigger": args.max_offsets, **prod, "gold_events": total,
                "gold_batches": len(rows), "all_in_gold": total >= prod["produced"], "quarantined": quarantined(quarantine),
                "capacity_into_gold": round(total / wall) if wall > 0 else None,
                "seconds_from_queries_started_to_last_gold_commit": round(wall, 1),
                "gold_batch_events": [r["events"] for r in rows]}
    first = rows[0]["committed_at"].timestamp() if rows else t_start
    last = rows[-1]["committed_at"].timestamp() if rows else t_start
    wall = last - t_start
    return {"topic_partitions": args.partitions, "trigger": args.trigger, "max_offsets_per_trigger": args.max_offsets,
            "lateness": args.lateness, **prod, "gold_events": total, "gold_batches": len(rows),
            "all_in_gold": total >= prod["produced"],
            "rate_into_gold": round(total / wall) if wall > 0 else None,
            "first_gold_commit_s": round(first - t_start, 1), "last_gold_commit_s": round(wall, 1),
            "freshness_p50_s": pct(0.5), "freshness_p99_s": pct(0.99),
            "mean_events_per_batch": round(total / max(1, len(rows)))}


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
    ap.add_argument("--rate", type=int, default=20000, help="events/s to produce")
    ap.add_argument("--seconds", type=float, default=120, help="how long to produce")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--trigger", default="10 seconds")
    ap.add_argument("--lateness", default="1 hour",
                    help="watermark lateness; above the simulated sessions' 20-minute span of client times, or "
                         "their early events are (correctly) quarantined as late and never reach gold")
    ap.add_argument("--backlog", type=int, default=0,
                    help="capacity mode: put this many events on the topic first, then start the stream and "
                         "time it into gold (no producer competing for the cores; no freshness)")
    ap.add_argument("--max-offsets", type=int, default=0, help="maxOffsetsPerTrigger (0: no limit)")
    ap.add_argument("--pool", type=int, default=400_000, help="distinct pre-generated events")
    ap.add_argument("--drain", type=float, default=600, help="max seconds to wait for gold after producing")
    ap.add_argument("--api-batch", type=int, default=500)
    ap.add_argument("--api-clients", type=int, default=4)
    ap.add_argument("--api-workers", type=int, default=2)
    ap.add_argument("--api-seconds", type=float, default=30)
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    args = ap.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    s = load(dict(os.environ))
    res = {"machine": f"{os.cpu_count()} cores", "command": " ".join(["bench/analytics_stream.py"] + sys.argv[1:])}
    if not args.skip_stream:
        res["stream"] = stream_part(args, s)
        print(json.dumps(res["stream"], indent=2), flush=True)
    if not args.skip_api:
        res["api"] = api_part(args, s)
        print(json.dumps(res["api"], indent=2), flush=True)
    out = ROOT / "bench" / "out" / "analytics_stream.json"
    out.write_text(json.dumps(res, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
