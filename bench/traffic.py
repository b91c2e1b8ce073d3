"""Realistic, unique player events for the analytics benchmarks, produced fast (librdkafka).

A pool of simulator sessions (clean events, Zipf over 200 titles) is a *template*: event ``i`` of a run
is pool event ``i mod len(pool)`` with

* a fresh ``event_id`` (every event is unique, so dedup never hides work),
* the session id shifted per pass over the pool (a pass is a new set of sessions),
* ``client_ts`` from a clock: for a backlog, a virtual clock that advances ``1 / density`` seconds per
  event and ends just before now (a backlog of N events is N / density seconds of real traffic, in
  time order, as Kafka would hold it); for a live run, the wall clock when the event is produced.

So the stream sees what a service sees - time moving forward at the offered rate - rather than the same
20 minutes of client time over and over (which would put every event of a large lake inside one
watermark window). Producing uses confluent-kafka (librdkafka; ~10x less CPU per record than
kafka-python), so the producer takes little from the 2 cores the stream runs on.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

PRODUCER_CONF = {"acks": "1", "linger.ms": 50, "batch.size": 512 * 1024, "queue.buffering.max.messages": 500_000,
                 "queue.buffering.max.kbytes": 1_048_576}


def _iso(ts: datetime) -> bytes:
    return ts.isoformat(timespec="milliseconds").encode()


class Traffic:
    def __init__(self, pool_size: int = 200_000, seed: int = 7):
        from vodflow.analytics.simulate import simulate_sessions

        vids = [str(uuid.UUID(int=(seed << 64) + k, version=4)) for k in range(200)]
        self.templates: list[tuple[bytes, bytes, int, int, int]] = []
        while len(self.templates) < pool_size:
            for e in simulate_sessions(2000, 20, vids, seed=seed, dup_rate=0.0, late_rate=0.0,
                                       malformed_rate=0.0).events:
                v = json.dumps(e).encode()
                self.templates.append((e["session_id"].encode(), v, v.index(b'"event_id": "') + 13,
                                       v.index(b'"session_id": "') + 15, v.index(b'"client_ts": "') + 14))
            seed += 1
        self.templates = self.templates[:pool_size]
        self.sent = 0  # events made so far (the pass number follows from it)

    def event(self, ts: bytes) -> tuple[bytes, bytes]:
        sid, v, e_at, s_at, t_at = self.templates[self.sent % len(self.templates)]
        p = self.sent // len(self.templates)
        self.sent += 1
        new_sid = sid[:24] + b"%012x" % ((int(sid[24:], 16) + p) % 16**12)
        eid = str(uuid.uuid4()).encode()
        # field order in the JSON: event_id, session_id, ..., client_ts; all three values keep their length
        v = v[:e_at] + eid + v[e_at + 36:s_at] + new_sid + v[s_at + 36:t_at] + ts + v[t_at + len(ts):]
        return new_sid, v


def producer(bootstrap: str):
    try:
        from confluent_kafka import Producer
    except ImportError:
        raise SystemExit("the benchmarks produce with confluent-kafka: "
                         ".venv/bin/pip install -c constraints.txt -e '.[bench]'") from None

    return Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONF})


def _send(p, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            p.produce(topic, value=value, key=key)
            return
        except BufferError:  # local queue full: let librdkafka deliver some
            p.poll(0.05)


def produce_backlog(bootstrap: str, topic: str, traffic: Traffic, n: int, density: float,
                    progress: Callable[[int], None] | None = None) -> dict:
    """``n`` events, client_ts on a virtual clock of ``density`` events/s that ends 30 s before now."""
    p = producer(bootstrap)
    t0 = time.monotonic()
    start = datetime.now(timezone.utc) - timedelta(seconds=n / density + 30)
    per_ms = max(1, int(density / 1000))
    ts = _iso(start)
    for i in range(n):
        if i % per_ms == 0:
            ts = _iso(start + timedelta(seconds=i / density))
        k, v = traffic.event(ts)
        _send(p, topic, k, v)
        if i % 50_000 == 0:
            p.poll(0)
            if progress:
                progress(i)
    p.flush()
    el = time.monotonic() - t0
    return {"produced": n, "produce_seconds": round(el, 1), "produce_rate": round(n / el)}


def produce_now(bootstrap: str, topic: str, traffic: Traffic, n: int) -> None:
    """``n`` events at once, client_ts = now (a handful, for the small-batch latency)."""
    p = producer(bootstrap)
    ts = _iso(datetime.now(timezone.utc))
    for _ in range(n):
        k, v = traffic.event(ts)
        _send(p, topic, k, v)
    p.flush()


def produce_live(bootstrap: str, topic: str, traffic: Traffic, rate: float, seconds: float,
                 on_tick: Callable[[float], None] | None = None) -> dict:
    """``rate`` events/s for ``seconds``, client_ts = the wall clock at produce time; paced per 20 ms."""
    p = producer(bootstrap)
    t0 = time.monotonic()
    sent = 0
    next_tick = 0.0
    while True:
        el = time.monotonic() - t0
        if el >= seconds:
            break
        ts = _iso(datetime.now(timezone.utc))
        due = int(rate * el)
        while sent < due:
            k, v = traffic.event(ts)
            _send(p, topic, k, v)
            sent += 1
        p.poll(0)
        if on_tick and el >= next_tick:
            on_tick(el)
            next_tick = el + 5
        time.sleep(0.02)
    p.flush()
    el = time.monotonic() - t0
    return {"produced": sent, "produce_seconds": round(el, 1), "produce_rate": round(sent / el)}
