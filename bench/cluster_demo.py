"""`make demo`'s flow on the cluster profile, with where each heavy step ran (issue 18, target 1).

Runs ``vodflow --profile cluster demo`` (the stack must be up: ``vodflow --profile cluster up``) and times
it, then reads the services' own records: the Spark master's applications (``/json/`` of its UI: name,
cores, executors' workers, duration), the tasks each Celery worker ran (``Executing workload`` lines in
``logs/airflow-worker-N.log``, by DAG and task), and the demo's ``recs_training`` run's task durations from
Airflow's REST API. Writes bench/results/cluster_demo.json; prose in docs/reliability.md. Run::

    .venv/bin/vodflow --profile cluster up && .venv/bin/python bench/cluster_demo.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from vodflow.stack.profile import apply  # noqa: E402

apply("cluster")  # before any settings are read: never the embedded stack's home or ports

import httpx  # noqa: E402

from vodflow.settings import get_settings  # noqa: E402

OUT = ROOT / "bench" / "results" / "cluster_demo.json"
STEP = re.compile(r"^─+ (\d)\. (.+?) ─+$")


def spark_apps(s) -> list[dict]:
    """The Spark master's running and completed applications, with the workers their executors ran on."""
    port = s["VODFLOW_SPARK_UI_PORT"]
    master = httpx.get(f"http://127.0.0.1:{port}/json/", timeout=30).json()
    out = []
    for state, key in (("running", "activeapps"), ("finished", "completedapps")):
        for a in master.get(key, []):
            out.append({"name": a["name"], "state": state, "cores": a.get("cores"),
                        "duration_s": round(a.get("duration", 0) / 1000, 1), "id": a["id"]})
    return out


def celery_tasks(s) -> dict[str, dict[str, int]]:
    """worker -> 'dag_id.task_id' -> tries it executed (its log's 'Executing workload' lines)."""
    out: dict[str, dict[str, int]] = {}
    for log in sorted((s.home / "logs").glob("airflow-worker-*.log")):
        c: Counter = Counter()
        for line in log.read_text(errors="replace").splitlines():
            if "Executing workload" in line:
                d = re.search(r"dag_id='?([\w.-]+)", line)
                t = re.search(r"task_id='?([\w.-]+)", line)
                c[f"{d.group(1) if d else '?'}.{t.group(1) if t else '?'}"] += 1
        out[log.stem] = dict(sorted(c.items()))
    return out


def training_tasks(s) -> list[dict]:
    """Task durations of the latest recs_training run (the demo's)."""
    from vodflow.airflow_client import AirflowClient

    af = AirflowClient(s)
    runs = af._req("GET", "/dags/recs_training/dagRuns", params={"limit": 1, "order_by": "-start_date"}).json()
    if not runs.get("dag_runs"):
        return []
    run = runs["dag_runs"][0]
    tis = af._req("GET", f"/dags/recs_training/dagRuns/{run['dag_run_id']}/taskInstances").json()
    return [{"run_id": run["dag_run_id"], "task": t["task_id"], "state": t["state"], "duration_s": t.get("duration"),
             "try": t.get("try_number"), "hostname": t.get("hostname")} for t in tis.get("task_instances", [])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=1500, help="max seconds for the demo (1500)")
    ap.add_argument("--up-seconds", type=float, default=None, help="how long `up` took (recorded as given)")
    args = ap.parse_args(argv)
    s = get_settings()
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(),
                 "command": "vodflow --profile cluster demo (bench/cluster_demo.py)",
                 "up_s": args.up_seconds,
                 "machine": {"cores": os.cpu_count(), "load_start": [round(x, 1) for x in os.getloadavg()]}}
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "vodflow"), "--profile", "cluster", "demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "140"})
    tail: list[str] = []
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            tail = (tail + [line.rstrip()])[-40:]
            m = STEP.match(line.strip())
            if m:
                steps[f"{m.group(1)}. {m.group(2)}"] = round(time.monotonic() - t0, 1)
            if time.monotonic() - t0 > args.timeout:
                proc.kill()
                break
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    res.update(demo_rc=rc, demo_s=round(time.monotonic() - t0, 1), step_started_at_s=steps,
               recommendations_printed=any("strategy personalized" in line or "strategy popular" in line
                                           for line in tail),
               demo_tail=tail[-14:])
    res["machine"]["load_end"] = [round(x, 1) for x in os.getloadavg()]
    for key, fn in (("spark_master_apps", spark_apps), ("celery_worker_tasks", celery_tasks),
                    ("recs_training_tasks", training_tasks)):
        try:
            res[key] = fn(s)
        except Exception as e:  # a record that cannot be read is reported, the others are still kept
            res[key] = f"unreadable: {type(e).__name__}: {e}"
    OUT.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"demo rc {rc} in {res['demo_s']} s; wrote {OUT}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
