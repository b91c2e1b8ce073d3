"""Faults under load on the cluster profile, and the stream's rate on 2 vs 1 Spark workers, in ONE run.

Needs the cluster profile's streaming services up (its own VODFLOW_HOME and ports, beside the embedded
stack; nothing of the embedded stack is touched)::

    vodflow --profile cluster up --only s3 --only lake-s3 --only kafka-1 --only kafka-2 --only kafka-3 \\
        --only spark-master --only spark-worker-1 --only spark-worker-2 --only analytics-stream
    .venv/bin/python bench/scale_faults.py --concurrent-optimize

The lake is read with delta-rs wherever the profile puts it: the cluster profile's is ``s3a://`` on its own S3
server (lake-s3, SeaweedFS), read through the lake's storage options.

Phases (each produces simulated player events with the project's producer: acks=all, idempotent):

0. a warm-up backlog (``--warmup``): the first batches on a fresh lake create its tables.
1. ``stream_2_workers``: a backlog of ``--backlog`` events drained by the stream on both workers; the rate
   is events over the seconds of the micro-batches that carried them (``batch_rate``; ``rate`` also counts
   trigger waits and a batch already running when the backlog landed).
2. ``spark worker SIGKILL``: another backlog; ``--kill-after`` s after it is on the topic (a micro-batch on
   this machine takes >= 14 s, so one is running) spark-worker-2 and its executor are SIGKILLed. Nothing
   is restarted by hand: the stream must finish on worker 1 alone.
3. ``stream_1_worker``: a third backlog, drained on the one worker left; then worker 2 is started again.
4. ``kafka broker SIGKILL``: ``--rate`` events/s for ``--seconds`` s; after a third of it the broker leading
   the most partitions of the events topic is SIGKILLed, after two thirds it is started again.

With ``--concurrent-optimize`` a second writer runs from the warm-up to the end of phase 3: the maintenance DAG's
OPTIMIZE (a Spark application of its own, committing through the same LogStore) over every table, round after
round, while the stream commits to the same tables; its rounds are recorded with the stream batches committed
during each, and on lake-s3 the commit puts the server refused (412: a commit that lost its version's race
and was retried at the next) are counted from its metrics.

Then reconciliation: every acknowledged event id is in silver exactly once (lost = acknowledged and not
in silver; doubled = silver rows beyond distinct ids + gold session events beyond silver rows), bronze
duplicates (the wire's at-least-once, which silver removes) are reported, and every gold table agrees
with a recount of silver (bench/analytics_suite.py's reconcile). Results: bench/results/scale.json
(``faults``, ``stream_rate_*``), prose: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from vodflow.stack.profile import apply  # noqa: E402

apply("cluster")  # before any settings are read: the rehearsal never sees the embedded stack's home or ports

from vodflow.settings import get_settings  # noqa: E402
from vodflow.stack import manager, process  # noqa: E402

OUT = ROOT / "bench" / "results" / "scale.json"
NEEDED = ["s3", "kafka-1", "kafka-2", "kafka-3", "spark-master", "spark-worker-1", "spark-worker-2",
          "analytics-stream"]  # + lake-s3 when the profile runs it (VODFLOW_LAKE_S3=on)


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


class Events:
    """Simulated sessions (clean: no deliberate duplicates, late or malformed events) and what was acked."""

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.by_phase: dict[str, set[str]] = {}
        self.phase = "start"
        self.failed = 0
        self.lock = threading.Lock()
        # a new seed base every run: the simulator is deterministic per seed, and a rerun on the same lake
        # must not send event ids an earlier run sent (silver would rightly hold them twice: other times)
        self.seed = int(time.time()) % 1_000_000 * 1000

    def make(self, n: int) -> list[dict]:
        from vodflow.analytics.simulate import simulate_sessions, synthetic_catalog

        self.seed += 1
        out: list[dict] = []
        while len(out) < n:  # ~40 events a viewer over 5 minutes
            sim = simulate_sessions(max(1, (n - len(out)) // 30), 5, synthetic_catalog(50, seed=1),
                                    seed=self.seed * 100_000 + len(out), dup_rate=0, late_rate=0, malformed_rate=0,
                                    start=datetime.now(timezone.utc) - timedelta(minutes=5))
            out.extend(e for e in sim.events if isinstance(e, dict))
        return out[:n]

    def send(self, producer, topic: str, events: list[dict]) -> list:
        futs = []
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for e in events:
            e = {**e, "server_ts": now}
            f = producer.send(topic, key=e["session_id"].encode(), value=json.dumps(e).encode())
            f.add_callback(self._ok, self.phase, e["event_id"]).add_errback(self._err)
            futs.append(f)
        return futs

    def _ok(self, phase: str, event_id: str, _meta) -> None:
        with self.lock:
            self.acked.add(event_id)
            self.by_phase.setdefault(phase, set()).add(event_id)

    def _err(self, _exc) -> None:
        with self.lock:
            self.failed += 1


class Lake:
    """The lake read with delta-rs, wherever it is: a local path or an ``s3a://`` lake (the cluster profile's,
    on its lake-s3 server) through the lake's storage options (``vodflow.clients.delta_storage_options``)."""

    def __init__(self, s) -> None:
        from vodflow.clients import delta_storage_options

        self.root = s.lake_uri.rstrip("/")
        self.options = delta_storage_options(s)

    def _table(self, path: str):
        from deltalake import DeltaTable

        return DeltaTable(f"{self.root}/{path}", storage_options=self.options)

    def progress(self) -> list[dict]:
        from deltalake.exceptions import TableNotFoundError

        try:
            rows = self._table("_state/gold_progress").to_pyarrow_table().to_pylist()
        except TableNotFoundError:
            return []
        return sorted(rows, key=lambda r: r["batch_id"])

    def gold_events(self) -> int:
        return sum(r["events"] for r in self.progress())

    def wait_gold(self, total: int, timeout: float) -> float:
        """Seconds (epoch) of the gold commit that brought the total to ``total``."""
        deadline = time.monotonic() + timeout
        while True:
            acc = 0
            for r in self.progress():
                acc += r["events"]
                if acc >= total:
                    return r["committed_at"].timestamp()
            if time.monotonic() > deadline:
                raise SystemExit(f"gold has {acc:,} of {total:,} events after {timeout:.0f} s")
            time.sleep(2)

    def ids(self, path: str) -> list[str]:
        return self._table(path).to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()

    def bronze_ids(self) -> list[str]:
        """event_id of every bronze record (bronze keeps the raw Kafka value)."""
        values = self._table("bronze/video_events").to_pyarrow_table(columns=["value"]).column("value").to_pylist()
        return [json.loads(v).get("event_id") for v in values]


def lake_bytes_per_event(lake: Lake) -> dict:
    """Bytes of the current Parquet files per row of bronze and silver (for docs/capacity.md's storage)."""
    out = {}
    for name in ("bronze", "silver"):
        t = lake._table(f"{name}/video_events")
        import pyarrow as pa

        adds = pa.table(t.get_add_actions(flatten=True)).to_pylist()
        rows = sum(a["num_records"] for a in adds)
        out[name] = round(sum(a["size_bytes"] for a in adds) / rows, 1) if rows else None
    out["rows"] = rows
    return out


def merge_results(res: dict) -> None:
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    old.update(res)
    OUT.write_text(json.dumps(old, indent=2, default=str) + "\n")


RUN_KEYS = ("stream_2_workers", "stream_1_worker", "stream_rate_2_workers", "stream_rate_1_worker",
            "concurrent_writer", "lake_bytes_per_event")


def record_run(res: dict) -> None:
    """Add this run to scale.json without dropping earlier results: its fault entries replace those of the same
    phases in ``faults`` (other phases, e.g. the ingest faults, stay), the whole run is appended to
    ``faults_runs``, and its reconciliation becomes the top-level ``reconcile`` (the one it replaces is kept in
    the earlier run's record). The stream rates of a fault run stay in its record: the top-level
    ``stream_rate_*`` come from bench/scale_rates.py's steady-state run (docs/capacity.md)."""
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    phases = {f["phase"] for f in res["faults"]}
    old["faults"] = [f for f in old.get("faults", []) if f.get("phase") not in phases] + \
        [{**f, "run": res["date"], "lake": res["lake"]} for f in res["faults"]]
    if "reconcile" in old and isinstance(old.get("faults_run"), dict) and "reconcile" not in old["faults_run"]:
        old["faults_run"]["reconcile"] = old["reconcile"]
    old["reconcile"] = res["reconcile"]
    old.setdefault("faults_runs", []).append({k: v for k, v in res.items() if k != "faults"} |
                                             {"faults": [f["phase"] for f in res["faults"]]})
    OUT.write_text(json.dumps(old, indent=2, default=str) + "\n")


def optimize_loop(stop: Path) -> int:
    """The concurrent writer (``--_optimize-until``, a process of its own): the ``analytics_maintenance`` DAG's
    OPTIMIZE (vodflow.analytics.maintenance.optimize, a Spark application on the cluster) over every table, round
    after round while the stream commits to the same tables, until ``stop`` exists; a JSON line per round."""
    from vodflow.analytics.maintenance import optimize
    from vodflow.spark import get_spark

    spark = get_spark("analytics-optimize-concurrent")
    n = 0
    while not stop.exists():
        n += 1
        t0 = time.time()
        try:
            out, err = optimize(spark, recent_days=2), None
        except Exception as e:  # noqa: BLE001 - a lost race is a result (the DAG's task would retry)
            out, err = {}, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
        print(json.dumps({"round": n, "start": t0, "end": time.time(), "tables": out, "error": err}), flush=True)
    spark.stop()
    return 0


class ConcurrentWriter:
    """Runs :func:`optimize_loop` beside the stream and summarises it against the stream's own commits."""

    def __init__(self, s) -> None:
        import subprocess

        self.stop_file = s.home / "tmp" / f"optimize-stop-{os.getpid()}"
        self.stop_file.parent.mkdir(parents=True, exist_ok=True)
        self.stop_file.unlink(missing_ok=True)
        self.t0 = time.time()
        self.proc = subprocess.Popen([sys.executable, __file__, "--_optimize-until", str(self.stop_file)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def finish(self, lake: "Lake", timeout: float) -> dict:
        """Stop after the round under way; the rounds, and how many stream batches committed during each."""
        self.stop_file.touch()
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.stop_file.unlink(missing_ok=True)
        rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        batches = [r["committed_at"].timestamp() for r in lake.progress()]
        for r in rounds:
            r["stream_batches_committed_during"] = sum(1 for b in batches if r["start"] <= b <= r["end"])
            r["files_removed"] = sum(v["files_removed"] for v in r["tables"].values())
            r["files_added"] = sum(v["files_added"] for v in r["tables"].values())
            r["seconds"] = round(r["end"] - r["start"], 1)
            r["start"] = datetime.fromtimestamp(r["start"], timezone.utc).isoformat(timespec="seconds")
            r["end"] = datetime.fromtimestamp(r["end"], timezone.utc).isoformat(timespec="seconds")
        return {"what": "the analytics_maintenance DAG's OPTIMIZE (Spark, S3ConditionalLogStore) over every table, "
                        "round after round, while the stream (delta-rs and Spark writers) commits to the same tables",
                "exit": self.proc.returncode, "rounds": rounds,
                "rounds_committed_with_stream": sum(1 for r in rounds if r["files_removed"] and
                                                    r["stream_batches_committed_during"]),
                "errors": [r["error"] for r in rounds if r["error"]]}


def pid_of(svc) -> int | None:
    return process.status(svc).pid


def kill_node(svc) -> list[int]:
    """SIGKILL a service and every process under it (a Spark worker's executors): a node lost at once."""
    import psutil

    pid = pid_of(svc)
    if not pid:
        raise SystemExit(f"{svc.name} is not running")
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in procs]


def leader_node(s) -> tuple[int, dict]:
    """The broker leading the most partitions of the events topic, partition -> leader, partition -> (replicas, ISR)."""
    from kafka import KafkaAdminClient

    a = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, client_id="vodflow-rehearsal")
    try:
        desc = a.describe_topics([s.topic_events])
        parts = {p["partition_index"]: p["leader_id"] for t in desc for p in t["partitions"]}
        replicas = {p["partition_index"]: (len(p["replica_nodes"]), len(p["isr_nodes"]))
                    for t in desc for p in t["partitions"]}
    finally:
        a.close()
    counts: dict[int, int] = {}
    for ldr in parts.values():
        counts[ldr] = counts.get(ldr, 0) + 1
    return max(counts, key=counts.get), parts, replicas


def batch_rate(lake: Lake, t0: float, t1: float) -> dict:
    """The micro-batches committed in (t0, t1]: events over the batches' own seconds (steps.total), which
    leaves out trigger waits and a batch that was already running when the phase began."""
    rows = [r for r in lake.progress() if t0 < r["committed_at"].timestamp() <= t1 + 0.5 and r["events"]]
    secs = sum(dict(r["steps"]).get("total", 0) for r in rows)
    return {"batches": [(r["batch_id"], r["events"], round(dict(r["steps"]).get("total", 0), 1)) for r in rows],
            "batch_rate": round(sum(r["events"] for r in rows) / secs) if secs else None}


def backlog(s, ev: Events, lake: Lake, producer, n: int, timeout: float, during=None) -> dict:
    before, t_before = lake.gold_events(), time.time()
    futs = ev.send(producer, s.topic_events, ev.make(n))
    producer.flush()
    for f in futs:
        f.get(timeout=60)
    t0 = time.time()
    if during:
        during()
    t1 = lake.wait_gold(before + n, timeout)
    return {"events": n, "seconds": round(t1 - t0, 1), "rate": round(n / (t1 - t0)), **batch_rate(lake, t_before, t1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlog", type=int, default=20_000, help="events per backlog phase (20,000)")
    ap.add_argument("--warmup", type=int, default=2_000, help="events drained before phase 1 (2,000; 0: none)")
    ap.add_argument("--kill-after", type=float, default=8.0, help="seconds after the backlog to kill the worker")
    ap.add_argument("--rate", type=int, default=400, help="events/s while the broker is killed (400)")
    ap.add_argument("--seconds", type=float, default=60, help="length of the broker phase (60)")
    ap.add_argument("--timeout", type=float, default=1200, help="max seconds for a phase to reach gold")
    ap.add_argument("--measure-lake", action="store_true",
                    help="only measure the cluster lake's bytes per event into scale.json")
    ap.add_argument("--concurrent-optimize", action="store_true",
                    help="run the maintenance DAG's OPTIMIZE round after round beside the stream from the warm-up to "
                         "the end of phase 3 (a second writer on the same tables: nothing may be lost; the worker kill "
                         "takes its executor on worker 2 too)")
    ap.add_argument("--_optimize-until", dest="optimize_until", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.optimize_until:
        return optimize_loop(Path(args.optimize_until))
    if args.measure_lake:
        merge_results({"lake_bytes_per_event": lake_bytes_per_event(Lake(get_settings()))})
        return 0

    from vodflow.clients import kafka_producer

    s = get_settings()
    svcs = manager.services_by_name(s)
    down = [n for n in NEEDED + (["lake-s3"] if "lake-s3" in svcs else []) if not process.status(svcs[n]).running]
    if down:
        raise SystemExit(f"not running in {s.home}: {', '.join(down)}; start them (see this file's docstring)")
    lake, ev = Lake(s), Events()
    restarts_file = s.home / "run" / "analytics-stream.restarts.json"
    restarts0 = json.loads(restarts_file.read_text()).get("restarts", 0) if restarts_file.exists() else 0
    producer = kafka_producer(s, client_id="vodflow-rehearsal", retries=2**31 - 1, delivery_timeout_ms=120_000,
                              request_timeout_ms=10_000, max_in_flight_requests_per_connection=5)
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(),
                 "command": " ".join(["bench/scale_faults.py", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": {"cores": os.cpu_count(), "load_start": [round(x, 1) for x in os.getloadavg()]},
                 "profile": {k: s[k] for k in ("VODFLOW_KAFKA_BOOTSTRAP", "VODFLOW_KAFKA_REPLICATION",
                                               "VODFLOW_KAFKA_MIN_INSYNC", "VODFLOW_TOPIC_EVENTS_PARTITIONS",
                                               "VODFLOW_SPARK_MASTER", "VODFLOW_SPARK_WORKERS",
                                               "VODFLOW_SPARK_WORKER_CORES", "VODFLOW_SPARK_CONF")},
                 "lake": {"uri": s.lake_uri, "s3_endpoint": s.lake_s3_endpoint if s.lake_bucket else None,
                          "lake_s3_service": s["VODFLOW_LAKE_S3"]},
                 "faults": []}
    gold0 = lake.gold_events()
    from vodflow.stack import seaweedfs

    refused0 = seaweedfs.refused_puts(s) if seaweedfs.on(s) else None
    writer = None
    if args.concurrent_optimize:
        writer = ConcurrentWriter(s)
        log("concurrent writer: OPTIMIZE rounds beside the stream until the end of phase 3")

    if args.warmup:  # the first batches on a fresh lake create the tables: not part of any rate
        ev.phase = "warmup"
        log(f"warm-up: {args.warmup:,} events")
        backlog(s, ev, lake, producer, args.warmup, args.timeout)
    ev.phase = "stream_2_workers"
    log(f"phase 1: {args.backlog:,}-event backlog on 2 workers")
    res["stream_2_workers"] = backlog(s, ev, lake, producer, args.backlog, args.timeout)
    res["stream_rate_2_workers"] = res["stream_2_workers"]["batch_rate"]
    log(f"  {res['stream_2_workers']}")

    ev.phase = "spark_worker"
    log("phase 2: SIGKILL spark-worker-2 and its executor mid-batch")
    killed: dict = {}

    def kill_worker() -> None:
        time.sleep(args.kill_after)
        killed["pids"] = kill_node(svcs["spark-worker-2"])
        killed["at"] = time.time()
        log(f"  killed spark-worker-2 (pids {killed['pids']})")

    ph2 = backlog(s, ev, lake, producer, args.backlog, args.timeout, during=kill_worker)
    log(f"  {ph2}")
    res["faults"].append({"what": "SIGKILL a Spark worker (and its executor) mid-batch", "phase": "spark_worker",
                          "killed_s_after_backlog": args.kill_after, **ph2})

    ev.phase = "stream_1_worker"
    log(f"phase 3: {args.backlog:,}-event backlog on 1 worker")
    res["stream_1_worker"] = backlog(s, ev, lake, producer, args.backlog, args.timeout)
    res["stream_rate_1_worker"] = res["stream_1_worker"]["batch_rate"]
    log(f"  {res['stream_1_worker']}")
    if writer:
        res["concurrent_writer"] = writer.finish(lake, args.timeout)
        log(f"  concurrent writer: {len(res['concurrent_writer']['rounds'])} OPTIMIZE rounds, "
            f"{res['concurrent_writer']['rounds_committed_with_stream']} compacted while the stream committed, "
            f"errors {res['concurrent_writer']['errors']}")
    process.start(svcs["spark-worker-2"])
    process.wait_healthy(svcs["spark-worker-2"], 180, threading.Event())
    log("  spark-worker-2 back (it registers; the running application gets an executor on it again)")

    leader, parts, replicas = leader_node(s)
    victim = svcs[f"kafka-{leader}"]
    log(f"phase 4: {args.rate}/s for {args.seconds:.0f} s; SIGKILL {victim.name} (leads "
        f"{sum(1 for v in parts.values() if v == leader)} of {len(parts)} partitions) at 1/3, restart at 2/3")
    before, n_total = lake.gold_events(), int(args.rate * args.seconds)
    events, t_start, sent = ev.make(n_total), time.time(), 0
    phase4: dict = {"what": f"SIGKILL one Kafka broker ({victim.name}, leader of the most partitions) while "
                            "the producer and the stream run", "phase": "kafka_broker", "broker": victim.name,
              "replicas_isr_before": sorted(set(replicas.values()))}
    ev.phase = "kafka_broker"
    acked_before = len(ev.acked)
    while sent < n_total:
        el = time.time() - t_start
        due = min(n_total, int(el * args.rate))
        if due > sent:
            ev.send(producer, s.topic_events, events[sent:due])
            sent = due
        if "killed_at_s" not in phase4 and el >= args.seconds / 3:
            kill_node(victim)
            phase4["killed_at_s"] = round(el, 1)
            log(f"  killed {victim.name} at {el:.0f} s")
        if "restarted_at_s" not in phase4 and el >= 2 * args.seconds / 3:
            process.start(victim)
            phase4["restarted_at_s"] = round(el, 1)
            log(f"  started {victim.name} again at {el:.0f} s")
        time.sleep(0.05)
    producer.flush(timeout=300)
    process.wait_healthy(victim, 180, threading.Event())
    phase4["acked"] = len(ev.acked) - acked_before
    phase4["send_errors"] = ev.failed
    log(f"  produced {n_total:,}: {phase4['acked']:,} acknowledged, {ev.failed} failed")
    t0 = time.time()
    t1 = lake.wait_gold(before + phase4["acked"], args.timeout)
    phase4["seconds_to_gold_after_last_send"] = round(t1 - t0, 1)
    res["faults"].append(phase4)

    log("reconciling: acknowledged ids vs silver, bronze duplicates, gold vs a recount of silver")
    from analytics_suite import reconcile  # noqa: E402  (duckdb + deltalake, no JVM)

    deadline = time.monotonic() + args.timeout  # gold totals can be reached early by events of an earlier
    while time.monotonic() < deadline:          # run still draining: wait for every acked id in silver
        missing = len(ev.acked - set(lake.ids("silver/video_events")))
        if not missing:
            break
        log(f"  {missing:,} acknowledged events not in silver yet")
        time.sleep(10)
    while lake.gold_events() < len(lake.ids("silver/video_events")) and time.monotonic() < deadline:
        time.sleep(5)  # the batch that wrote them to silver has also folded them into gold
    silver = lake.ids("silver/video_events")
    bronze = lake.bronze_ids()
    silver_set = set(silver)
    lost = len(ev.acked - silver_set)
    rec = reconcile(lake.root, lake.gold_events(), lake.options)
    counts: dict[str, int] = {}
    for i in silver:
        counts[i] = counts.get(i, 0) + 1
    # this run's ids only: a lake may hold an earlier run's rows
    doubled = sum(counts.get(i, 0) - 1 for i in ev.acked if counts.get(i, 0) > 1) \
        + max(0, rec["session_events"] - rec["silver"])
    restarts = json.loads(restarts_file.read_text()).get("restarts", 0) if restarts_file.exists() else 0
    res["reconcile"] = {"acknowledged": len(ev.acked), "send_errors": ev.failed, "silver_rows": len(silver),
                        "silver_distinct": len(silver_set), "bronze_rows": len(bronze),
                        "bronze_duplicates_whole_lake": len(bronze) - len(set(bronze)), "events_lost": lost,
                        "events_doubled": doubled, "gold_events_total": lake.gold_events() - gold0,
                        "gold": rec, "stream_restarts_by_supervisor": restarts - restarts0}
    count = counts
    for f in res["faults"]:
        ids = ev.by_phase.get(f["phase"], set())
        f_lost = len(ids - silver_set)
        f_doubled = sum(count.get(i, 0) - 1 for i in ids if count.get(i, 0) > 1)
        # no operator action: the stream was never restarted by hand, the lost node came back (or not) on its
        # own schedule, and every acknowledged event of the phase reached silver once and gold reconciles
        f.update(events_acknowledged=len(ids), events_lost=f_lost, events_doubled=f_doubled,
                 recovered_without_operator=bool(rec["ok"] and f_lost == 0 and f_doubled == 0))
    res["machine"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    producer.close()
    res["lake_bytes_per_event"] = lake_bytes_per_event(lake)
    if refused0 is not None:  # commits that lost a race for their version on the lake's S3 (and were retried)
        refused1 = seaweedfs.refused_puts(s)
        res["lake"]["commit_puts_refused_412"] = None if refused1 is None else refused1 - refused0
    (s.home / "tmp").mkdir(parents=True, exist_ok=True)  # the raw record first: a merge error loses nothing
    (s.home / "tmp" / f"scale_faults-{res['date']}.json").write_text(json.dumps(res, indent=2, default=str))
    record_run(res)
    log(f"lost {lost}, doubled {doubled}, gold reconciles: {rec['ok']}; wrote {OUT}")
    return 0 if lost == 0 and doubled == 0 and rec["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
