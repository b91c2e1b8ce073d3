"""Benchmark: the analytics stream against the Kafka → Delta floor, in one run (issue 13's targets).

    .venv/bin/python bench/analytics_suite.py                 # needs `vodflow up` (Kafka); ~30 min on 2 cores
    .venv/bin/python bench/analytics_suite.py --quick         # smaller sizes, to try the bench itself

Phases, one after the other on the same machine and stack, each on a private topic:

1. **floor**: a 1,000,000-event backlog (``--backlog``) drained by the least any exactly-once Kafka → Delta
   job does (the query of ``bench/analytics_floor.py``: ``from_json`` + one idempotent Delta append per
   micro-batch), same Spark session builder, trigger and ``maxOffsetsPerTrigger`` as the job;
2. **backlog**: the same size of backlog drained by ``jobs/events_stream.py`` (the service's code) into a
   fresh lake, every gold table reconciled; rate = events ÷ (last gold commit - query start);
3. **grow**: the lake is filled to ``--lake-events`` (5,000,000) events, then **backlog_big**: another
   backlog drained on that lake (cost must follow the batch, not the table);
4. **small**: a handful of events into the running stream: the batch's own end-to-end time;
5. **live**: ``--live-rate`` events/s for ``--live-seconds`` (client time = wall clock): consumer lag sampled
   every 5 s (growing or not), p99 event → gold freshness from the stream's own histograms;
   then **ramp**: higher rates for ``--ramp-seconds`` each, the highest with p99 < 20 s and no growing lag.

Events come from :mod:`traffic` (simulator sessions, every event unique, time moving forward). Results:
``bench/results/analytics_stream.json`` (committed) and ``docs/benchmarks-analytics.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from analytics_floor import start_floor_query  # noqa: E402
from analytics_stream import drop_topic, make_topic  # noqa: E402
from traffic import Traffic, produce_backlog, produce_live, produce_now  # noqa: E402
from vodflow.settings import load  # noqa: E402

OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results" / "analytics_stream.json"


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- floor
def floor_backlog(s, args, traffic: Traffic) -> dict:
    """The floor query (from_json + 1 Delta append per batch) draining a backlog, in this process."""
    from vodflow.spark import get_spark

    topic = f"bench_floor_{uuid.uuid4().hex[:8]}"
    lake = OUT / f"floor_{topic}"
    make_topic(s, topic, args.partitions)
    prod = produce_backlog(s.kafka_bootstrap, topic, traffic, args.backlog, args.density)
    log(f"floor: {prod['produced']:,} events on {topic} at {prod['produce_rate']:,}/s")
    spark = get_spark("vodflow-bench-floor", s)
    rows_in: dict[int, int] = {}
    commits_at: dict[int, float] = {}
    t0 = time.time()
    q = start_floor_query(spark, s, topic, lake, 1, args.trigger, rows_in, commits_at, args.max_offsets)
    deadline = time.time() + args.drain
    while sum(rows_in.values()) < args.backlog and time.time() < deadline and q.isActive:
        time.sleep(0.5)
    q.stop()
    spark.stop()
    drop_topic(s, topic)
    shutil.rmtree(lake, ignore_errors=True)
    done = sum(rows_in.values())
    wall = max(commits_at.values()) - t0
    return {"events": done, "drained": done >= args.backlog, "batches": len(rows_in),
            "seconds": round(wall, 1), "rate": round(done / wall), **{f"produce_{k}": v for k, v in prod.items()}}


# ----------------------------------------------------------------------------- the job
class Job:
    """``jobs/events_stream.py --mode continuous`` in its own process on a private topic and lake."""

    def __init__(self, s, topic: str, lake: Path, trigger: str, max_offsets: int, lateness: str):
        self.env = {**os.environ, "VODFLOW_TOPIC_EVENTS": topic, "VODFLOW_LAKE_URI": str(lake),
                    "VODFLOW_EVENTS_TRIGGER": trigger, "VODFLOW_EVENTS_MAX_OFFSETS": str(max_offsets),
                    "VODFLOW_EVENTS_LATENESS": lateness}
        self.lake, self.status, self.proc = lake, OUT / f"status_{topic}.json", None
        self.log = open(OUT / f"job_{topic}.log", "ab")

    def start(self) -> float:
        """Start and wait until the query runs; returns the wall time it started."""
        self.status.unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "jobs" / "events_stream.py"), "--mode",
                                      "continuous", "--status-file", str(self.status)], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while not self.status.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stream did not start; see {self.log.name}")
            time.sleep(0.2)
        return time.time()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def progress_rows(self) -> list[dict]:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            rows = DeltaTable(str(self.lake / "_state" / "gold_progress")).to_pyarrow_table().to_pylist()
        except TableNotFoundError:
            return []
        return sorted(rows, key=lambda r: r["batch_id"])

    def gold_events(self) -> int:
        return sum(r["events"] for r in self.progress_rows())

    def lag(self) -> int | None:
        """Kafka records not yet read by the query (latest offsets - the last batch's end offsets)."""
        try:
            p = json.loads(self.status.read_text())["queries"]["vodflow-events"]["progress"] or {}
        except (OSError, ValueError, KeyError):
            return None
        src = (p.get("sources") or [{}])[0]
        latest, end = src.get("latestOffset"), src.get("endOffset")
        if not latest or not end:
            return None
        latest = json.loads(latest) if isinstance(latest, str) else latest
        end = json.loads(end) if isinstance(end, str) else end
        if not all(isinstance(parts, dict) for parts in (*latest.values(), *end.values())):
            return None   # a progress report before the source knew its offsets (seen right after a start)
        return sum(sum(parts.values()) for parts in latest.values()) - sum(sum(parts.values()) for parts in end.values())

    def wait_gold(self, total: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.gold_events() < total:
            if self.proc.poll() is not None:
                raise SystemExit(f"the stream exited; see {self.log.name}")
            if time.monotonic() > deadline:
                raise SystemExit(f"gold has {self.gold_events():,} of {total:,} events after {timeout:.0f} s")
            time.sleep(1)


def reconcile(lake: Path | str, gold_events: int, storage_options: dict[str, str] | None = None) -> dict:
    """Every gold table agrees with the events folded in (read without a JVM). ``lake``: the lake's root, a
    local path or an object-store URI read with ``storage_options`` (``vodflow.clients.delta_storage_options``)."""
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    root = str(lake).rstrip("/")
    for name, path in (("sessions", "gold/sessions"), ("title_daily", "gold/title_daily"),
                       ("title_hourly", "gold/title_hourly"), ("user_title", "gold/user_title"),
                       ("events", "silver/video_events"), ("quality", "gold/playback_quality")):
        con.register(name, DeltaTable(f"{root}/{path}", storage_options=storage_options).to_pyarrow_dataset())
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    r = {"silver": q("SELECT count(*) FROM events"), "session_events": q("SELECT sum(events) FROM sessions"),
         "sessions": q("SELECT count(*) FROM sessions"), "daily_views": q("SELECT sum(views) FROM title_daily"),
         "hourly_views": q("SELECT sum(views) FROM title_hourly"),
         "user_title_sessions": q("SELECT sum(sessions) FROM user_title"),
         "played_s_sessions": round(q("SELECT sum(played_s) FROM sessions"), 3),
         "played_s_quality": round(q("SELECT sum(played_s) FROM quality"), 3)}
    r["ok"] = (r["silver"] == r["session_events"] == gold_events
               and r["sessions"] == r["daily_views"] == r["hourly_views"] == r["user_title_sessions"]
               and abs(r["played_s_sessions"] - r["played_s_quality"]) < 1e-3 * max(1.0, r["played_s_sessions"]))
    return r


def drain_backlog(s, args, job: Job, topic: str, traffic: Traffic, n: int, what: str) -> dict:
    before = job.gold_events()
    prod = produce_backlog(s.kafka_bootstrap, topic, traffic, n, args.density)
    log(f"{what}: {n:,} events on the topic at {prod['produce_rate']:,}/s; starting the job")
    t0 = job.start()
    job.wait_gold(before + n, args.drain)
    rows = [r for r in job.progress_rows() if r["committed_at"].timestamp() >= t0]
    job.stop()
    wall = max(r["committed_at"].timestamp() for r in rows) - t0
    steps = [r["steps"] for r in rows]
    res = {"events": n, "seconds": round(wall, 1), "rate": round(n / wall), "batches": len(rows),
           "batch_events": [r["events"] for r in rows],
           "batch_steps": [{k: round(v, 2) for k, v in (dict(st) if not isinstance(st, dict) else st).items()}
                           for st in steps]}
    log(f"{what}: {res['rate']:,} events/s ({wall:.0f} s, {len(rows)} batches)")
    return res


def freshness(rows: list[dict]) -> dict:
    hist = [0] * len(rows[0]["freshness_hist"])
    for r in rows:
        for i, c in enumerate(r["freshness_hist"] or []):
            hist[i] += c
    total = sum(hist)

    def pct(q):
        want, acc = q * total, 0
        for i, c in enumerate(hist):
            acc += c
            if acc >= want:
                return i + 1  # upper edge of the 1 s bucket
        return None

    return {"events": total, "p50_s": pct(0.5), "p99_s": pct(0.99)}


def live_run(s, job: Job, topic: str, traffic: Traffic, rate: int, seconds: float, drain: float) -> dict:
    samples: list[tuple[float, int]] = []

    def tick(el: float) -> None:
        lag = job.lag()
        if lag is not None:
            samples.append((round(el, 1), lag))

    t0 = time.time()
    before = job.gold_events()
    prod = produce_live(s.kafka_bootstrap, topic, traffic, rate, seconds, on_tick=tick)
    job.wait_gold(before + prod["produced"], drain)
    rows = [r for r in job.progress_rows() if r["committed_at"].timestamp() >= t0 and r["events"]]
    f = freshness(rows)
    # lag trend after the first minute (start-up): least-squares slope in events/s
    tail = [(t, lag) for t, lag in samples if t >= 60] or samples
    slope = 0.0
    if len(tail) >= 3:
        mt = sum(t for t, _ in tail) / len(tail)
        ml = sum(lag for _, lag in tail) / len(tail)
        den = sum((t - mt) ** 2 for t, _ in tail)
        slope = sum((t - mt) * (lag - ml) for t, lag in tail) / den if den else 0.0
    growing = slope > 0.02 * rate  # more than 2 % of the offered rate piling up
    batch_s = [dict(r["steps"]).get("total") for r in rows]
    return {"offered_rate": rate, "seconds": seconds, **prod, "batches": len(rows),
            "p50_freshness_s": f["p50_s"], "p99_freshness_s": f["p99_s"], "lag_slope_events_per_s": round(slope, 1),
            "lag_growing": growing, "lag_samples": samples, "max_batch_s": max(batch_s) if batch_s else None,
            "mean_batch_events": round(sum(r["events"] for r in rows) / max(1, len(rows)))}


# ----------------------------------------------------------------------------- main
def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlog", type=int, default=1_000_000, help="backlog size for floor and job (1,000,000)")
    ap.add_argument("--lake-events", type=int, default=5_000_000, help="lake size for the second backlog")
    ap.add_argument("--density", type=float, default=8000, help="events/s of traffic a backlog represents")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--trigger", default="10 seconds", help="trigger of floor and job in the backlog phases")
    ap.add_argument("--max-offsets", type=int, default=250_000, help="maxOffsetsPerTrigger in the backlog phases")
    ap.add_argument("--lateness", default="15 minutes", help="the service's default watermark lateness")
    ap.add_argument("--live-rate", type=int, default=8000)
    ap.add_argument("--live-seconds", type=float, default=300)
    ap.add_argument("--live-trigger", default="5 seconds")
    ap.add_argument("--live-max-offsets", type=int, default=200_000)
    ap.add_argument("--small-rounds", type=int, default=5, help="8-event batches into the running stream")
    ap.add_argument("--ramp", type=int, nargs="*", default=[11000, 14000],
                    help="higher live rates to try when --live-rate holds (p99 < 20 s, no growing lag)")
    ap.add_argument("--ramp-down", type=int, nargs="*", default=[4000, 2000, 1000],
                    help="lower live rates to try when --live-rate does not hold")
    ap.add_argument("--ramp-seconds", type=float, default=120)
    ap.add_argument("--drain", type=float, default=1800, help="max seconds to wait for a phase to reach gold")
    ap.add_argument("--skip", nargs="*", default=[], choices=["floor", "grow", "live", "ramp"])
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="where to write the results (a partial run, e.g. --skip live, keeps them apart)")
    ap.add_argument("--quick", action="store_true", help="100k backlog, 300k lake, 60 s live: tries the bench")
    args = ap.parse_args(argv)
    if args.quick:
        args.backlog, args.lake_events, args.live_seconds, args.ramp, args.ramp_seconds = 100_000, 300_000, 60, [], 0
    OUT.mkdir(parents=True, exist_ok=True)
    s = load()
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
                 "machine": {"cores": os.cpu_count(), "load_start": os.getloadavg()},
                 "command": " ".join(["bench/analytics_suite.py"] + (argv if argv is not None else sys.argv[1:])),
                 "settings": {k: getattr(args, k) for k in ("backlog", "lake_events", "density", "trigger",
                                                             "max_offsets", "lateness", "live_rate", "live_trigger",
                                                             "live_max_offsets")}}
    log("building the traffic pool ...")
    traffic = Traffic()
    if "floor" not in args.skip:
        res["floor"] = floor_backlog(s, args, traffic)
        log(f"floor: {res['floor']['rate']:,} events/s")

    topic = f"bench_events_{uuid.uuid4().hex[:8]}"
    lake = OUT / f"lake_{topic}"
    make_topic(s, topic, args.partitions)
    job = Job(s, topic, lake, args.trigger, args.max_offsets, args.lateness)
    try:
        res["backlog"] = drain_backlog(s, args, job, topic, traffic, args.backlog, "backlog")
        res["backlog"]["reconcile"] = reconcile(lake, job.gold_events())
        if "grow" not in args.skip:
            grow = args.lake_events - args.backlog
            res["grow"] = drain_backlog(s, args, job, topic, traffic, grow, f"grow the lake by {grow:,}")
            res["backlog_big"] = drain_backlog(s, args, job, topic, traffic, args.backlog,
                                               f"backlog on a {args.lake_events:,}-event lake")
            res["backlog_big"]["lake_events_before"] = args.lake_events
            res["backlog_big"]["reconcile"] = reconcile(lake, job.gold_events())
        live = Job(s, topic, lake, "1 second", args.live_max_offsets, args.lateness)
        live.start()
        small = []
        for i in range(args.small_rounds):  # the first rounds pay for code generation; all are reported
            live.wait_gold(live.gold_events(), 60)
            time.sleep(3)
            before = live.gold_events()
            t = time.time()
            produce_now(s.kafka_bootstrap, topic, traffic, 8)
            live.wait_gold(before + 8, 300)
            rows = [r for r in live.progress_rows() if r["committed_at"].timestamp() >= t and r["events"]]
            small.append({"events": sum(r["events"] for r in rows), "batches": len(rows),
                          "batch_s": max(dict(r["steps"])["total"] for r in rows),
                          "steps": dict(rows[-1]["steps"]),
                          "produce_to_gold_s": round(max(r["committed_at"].timestamp() for r in rows) - t, 2)})
            log(f"small batch {i}: {small[-1]['batch_s']} s in the batch, {small[-1]['produce_to_gold_s']} s "
                f"produce to gold")
        res["small"] = {"rounds": small, "batch_s": sorted(x["batch_s"] for x in small)[len(small) // 2],
                        "produce_to_gold_s": sorted(x["produce_to_gold_s"] for x in small)[len(small) // 2]}
        live.stop()
        if "live" not in args.skip:
            live = Job(s, topic, lake, args.live_trigger, args.live_max_offsets, args.lateness)
            live.start()
            time.sleep(15)
            res["live"] = live_run(s, live, topic, traffic, args.live_rate, args.live_seconds, args.drain)
            log(f"live {args.live_rate:,}/s: p99 {res['live']['p99_freshness_s']} s, "
                f"lag growing {res['live']['lag_growing']}")
            res["ramp"] = []
            ok = not res["live"]["lag_growing"] and (res["live"]["p99_freshness_s"] or 999) < 20
            # up from the live rate while it holds, down from it until it holds
            rates = args.ramp if ok else [r for r in args.ramp_down if r < args.live_rate]
            for rate in ([] if "ramp" in args.skip else rates):
                r = live_run(s, live, topic, traffic, rate, args.ramp_seconds, args.drain)
                res["ramp"].append(r)
                log(f"ramp {rate:,}/s: p99 {r['p99_freshness_s']} s, lag growing {r['lag_growing']}")
                holds = not r["lag_growing"] and (r["p99_freshness_s"] or 999) < 20
                if holds != ok:
                    break
            live.stop()
    finally:
        job.stop()
        drop_topic(s, topic)
    res["machine"]["load_end"] = os.getloadavg()
    ok_rates = [r["offered_rate"] for r in [res.get("live", {})] + res.get("ramp", [])
                if r and not r["lag_growing"] and (r["p99_freshness_s"] or 999) < 20]
    res["summary"] = {
        "floor_rate": res.get("floor", {}).get("rate"), "backlog_rate": res["backlog"]["rate"],
        "ratio_to_floor": round(res["backlog"]["rate"] / res["floor"]["rate"], 3) if "floor" in res else None,
        "backlog_rate_5m_lake": res.get("backlog_big", {}).get("rate"),
        "ratio_5m_to_fresh": (round(res["backlog_big"]["rate"] / res["backlog"]["rate"], 3)
                              if "backlog_big" in res else None),
        "live_offered_rate": res.get("live", {}).get("offered_rate"),
        "live_p99_freshness_s": res.get("live", {}).get("p99_freshness_s"),
        "live_lag_growing": res.get("live", {}).get("lag_growing"),
        "highest_rate_p99_under_20s": max(ok_rates) if ok_rates else None,
        "small_batch_s": res["small"]["batch_s"], "small_produce_to_gold_s": res["small"]["produce_to_gold_s"],
        "events_per_core_second": round(res["backlog"]["rate"] / os.cpu_count()),
        "date": res["date"], "commit": res["commit"]}
    out = args.results if not args.quick else OUT / "analytics_suite_quick.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**res["summary"], "details": res}, indent=2, default=str))
    log(f"wrote {out}")
    print(json.dumps(res["summary"], indent=2, default=str))
    shutil.rmtree(lake, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
