"""The nightly ``recs_training`` DAG on N synthetic interactions: its duration, each task's time and peak memory.

Issue 16, build item 4 ("the nightly DAG finishes the 20M case on this machine").  Two stages, each its own
call (own process, own CPU slot on a shared machine):

``--stage table``  the synthetic interactions of bench/recs_scale.py (:func:`vodflow.recs.synthetic
                   .synthetic_interactions`, the same Parquet file in ``--data-dir``, generated if missing)
                   written as a gold ``user_title`` Delta table in ``--data-dir`` (``user_id``, ``video_id``,
                   ``watch_fraction`` / ``completed`` recovered from the synthetic value, ``last_watched``).
``--stage dag``    ``dag.test()`` of ``dags/recs_training.py`` on that table, the DAG's default params (grid,
                   iterations, holdout, challenger, top-N) and private outputs: its own registered model,
                   MLflow experiment and recommendations table, so nothing of a live stack is touched.  The
                   tasks run in this process (Spark's JVM is its child): a thread samples the resident memory
                   of this process and of its children, their CPU time and the load average every 0.5 s; each
                   task's window (its task instance's start and end) gets its wall time, CPU-seconds and peak
                   RSS (Python, JVM, total).

Needs MLflow (``VODFLOW_MLFLOW_URI``) running, e.g. ``vodflow up --only mlflow`` on private ports; the Airflow
metadata DB of ``VODFLOW_HOME`` is migrated here if needed (no Airflow service is needed for ``dag.test``).
Results merge into ``bench/results/recs.json`` under ``nightly_dag_<size>``; prose in docs/benchmarks-recs.md.

    B=".venv/bin/python bench/recs_nightly.py --size 20M --data-dir /work/tmp/recs-scale"
    /work/notes/heavy $B --stage table
    VODFLOW_SPARK_DRIVER_MEMORY=8g /work/notes/heavy $B --stage dag
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import Poller, commit, merge_results  # noqa: E402
from recs_scale import data_file, label, parse_size, stage_generate, uptime  # noqa: E402

from vodflow.recs.defaults import TRAINING, WATCH_WEIGHTS  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recs.json"


def table_dir(data_dir: Path, n: int, seed: int) -> Path:
    return Path(data_dir) / f"lake-{label(n)}-seed{seed}" / "gold" / "user_title"


def stage_table(n: int, seed: int, data_dir: Path) -> dict:
    """The synthetic Parquet file as a gold ``user_title`` Delta table (written once)."""
    from pyspark.sql import functions as F

    from vodflow.spark import get_spark

    src, out = data_file(data_dir, n, seed), table_dir(data_dir, n, seed)
    if not src.exists():
        stage_generate(n, seed, data_dir)
    if (out / "_delta_log").exists():
        print(f"{out} exists: kept", flush=True)
        return {"table": str(out)}
    spark = get_spark("bench-recs-nightly-table")
    w = WATCH_WEIGHTS
    # value = w_base + w_watch * fraction + w_complete * (fraction >= 0.9) (synthetic.py): invert it
    done_at = w.w_base + w.w_watch * 0.9 + w.w_complete
    value = F.col("value").cast("double")
    completed = value >= F.lit(done_at - 1e-6)
    frac = (value - F.lit(w.w_base) - F.when(completed, F.lit(w.w_complete)).otherwise(F.lit(0.0))) / F.lit(w.w_watch)
    t0 = time.perf_counter()
    (spark.read.parquet(str(src))
     .select(F.format_string("u%07d", "userID").alias("user_id"), F.format_string("v%05d", "itemID").alias("video_id"),
             F.least(F.lit(1.0), F.greatest(F.lit(0.0), frac)).alias("watch_fraction"), completed.alias("completed"),
             F.timestamp_seconds("timestamp").alias("last_watched"))
     .write.format("delta").mode("overwrite").save(str(out)))
    secs = time.perf_counter() - t0
    print(f"wrote {out} in {secs:.1f} s", flush=True)
    spark.stop()
    return {"table": str(out), "table_write_s": round(secs, 1)}


class Sampler(Poller):
    """Every ``every`` s: time, RSS of this process and of its children (JVM apart), their CPU-seconds, load."""

    def __init__(self, every: float = 0.5, log: Path | None = None):
        super().__init__(every)
        self.samples: list[dict] = []
        self.log = log  # each sample also appended here as a JSON line (kept if the run is stopped)
        self._dead_cpu = 0.0  # CPU of children that have exited (seen earlier)
        self._last_cpu: dict[int, float] = {}

    def sample(self) -> dict:
        import psutil

        me = psutil.Process()
        py = jvm = other = 0
        cpu_now: dict[int, float] = {}
        for p in [me, *me.children(recursive=True)]:
            try:
                with p.oneshot():
                    rss, t, name = p.memory_info().rss, p.cpu_times(), p.name() or ""
            except psutil.Error:
                continue
            cpu_now[p.pid] = t.user + t.system
            if p.pid == me.pid:
                py += rss
            elif "java" in name:
                jvm += rss
            else:
                other += rss
        self._dead_cpu += sum(v for k, v in self._last_cpu.items() if k not in cpu_now)
        self._last_cpu = cpu_now
        return {"t": time.time(), "py_mb": py / 2**20, "jvm_mb": jvm / 2**20, "other_mb": other / 2**20,
                "cpu_s": self._dead_cpu + sum(cpu_now.values()), "load1": os.getloadavg()[0]}

    def poll(self) -> None:
        self.samples.append(self.sample())
        if self.log is not None:
            with open(self.log, "a") as fh:
                fh.write(json.dumps(self.samples[-1]) + "\n")

    def window(self, start: float, end: float) -> dict:
        inside = [s for s in self.samples if start <= s["t"] <= end]
        before = [s for s in self.samples if s["t"] <= start][-1:] or self.samples[:1]
        after = [s for s in self.samples if s["t"] >= end][:1] or self.samples[-1:]
        pts = inside + before + after
        tot = [s["py_mb"] + s["jvm_mb"] + s["other_mb"] for s in pts]
        loads = [s["load1"] for s in pts]
        return {"cpu_s": round(after[0]["cpu_s"] - before[0]["cpu_s"], 1),
                "peak_rss_mb": round(max(tot)), "peak_python_rss_mb": round(max(s["py_mb"] for s in pts)),
                "peak_jvm_rss_mb": round(max(s["jvm_mb"] for s in pts)),
                "load_1m_min_max": [round(min(loads), 2), round(max(loads), 2)]}


def _task_instances(dag_id: str, run_id: str) -> list[dict]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        return [{"task_id": ti.task_id, "state": str(ti.state), "try_number": ti.try_number,
                 "start": ti.start_date.timestamp() if ti.start_date else None,
                 "end": ti.end_date.timestamp() if ti.end_date else None} for ti in tis]


def stage_dag(n: int, seed: int, data_dir: Path) -> dict:
    from vodflow.settings import REPO_ROOT, get_settings
    from vodflow.stack.services import airflow_env

    table = table_dir(data_dir, n, seed)
    if not (table / "_delta_log").exists():
        raise SystemExit(f"no Delta table at {table}: run --stage table first (same --size, --data-dir, --seed)")
    s = get_settings()
    env = airflow_env(s)
    os.environ.update(env)  # before airflow is imported: it reads its configuration at import time
    from airflow.dag_processing.dagbag import DagBag

    from vodflow.stack import airflow_setup

    airflow_setup.prepare(s, env)  # idempotent: migrates the metadata DB, the spark pool
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "recs_training.py"))
    if bag.import_errors:
        raise SystemExit(f"dags/recs_training.py does not import: {bag.import_errors}")
    dag = bag.get_dag("recs_training")
    tag = f"{label(n)}-{uuid.uuid4().hex[:6]}"
    conf = {"table_path": str(table), "recs_table": str(Path(data_dir) / f"lake-{label(n)}-seed{seed}" / "gold"
                                                       / f"recommendations-{tag}"),
            "model_name": f"bench-nightly-{tag}", "experiment": "vodflow-bench-nightly"}
    print(f"dag.test({json.dumps(conf)}), the DAG's default grid {TRAINING.describe()}", flush=True)
    # a SIGTERM (the run stopped at a deadline, by its PID) ends dag.test with KeyboardInterrupt: the tasks
    # done so far, and the running one up to now, are still recorded (state "stopped")
    signal.signal(signal.SIGTERM, _interrupt)
    stopped = False
    with Sampler(log=Path(data_dir) / f"dag-samples-{tag}.jsonl") as smp:
        t0 = time.time()
        try:
            run = dag.test(run_conf=conf)
            run_id, state = run.run_id, str(run.state)
        except KeyboardInterrupt:
            stopped, run_id, state = True, _latest_run_id("recs_training"), "stopped"
        t1 = time.time()
    tasks = {}
    for ti in sorted(_task_instances("recs_training", run_id), key=lambda x: x["start"] or 0):
        row = {"state": ti["state"] if not (stopped and ti["start"] and not ti["end"]) else "stopped",
               "try_number": ti["try_number"]}
        end = ti["end"] or (t1 if stopped and ti["start"] else None)
        if ti["start"] and end:
            row["wall_s"] = round(end - ti["start"], 1)
            row.update(smp.window(ti["start"], end))
        tasks[ti["task_id"]] = row
        print(f"  {ti['task_id']:10s} {row}", flush=True)
    whole = smp.window(t0, t1)
    print(f"DAG run {run_id}: {state} in {t1 - t0:.1f} s, peak RSS {whole['peak_rss_mb']} MB "
          f"(Python {whole['peak_python_rss_mb']}, JVM {whole['peak_jvm_rss_mb']}), {whole['cpu_s']} CPU-s", flush=True)
    out = {"state": state, "run_id": run_id, "wall_s": round(t1 - t0, 1), **whole, "tasks": tasks,
           "conf": conf, "grid": TRAINING.describe(), "driver_memory": s["VODFLOW_SPARK_DRIVER_MEMORY"],
           "spark_master": s.spark_master}
    out["xcom_publish"] = _publish_summary(run_id) if run_id else None
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _latest_run_id(dag_id: str) -> str | None:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        return run.run_id if run else None


def _publish_summary(run_id: str) -> dict | None:
    """What ``publish`` returned (users, rows, versions) and ``challenge``'s outcome, from XCom."""
    try:
        from airflow.models.xcom import XComModel as XCom
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.query(XCom).filter(XCom.dag_id == "recs_training", XCom.run_id == run_id,
                                             XCom.task_id == "publish", XCom.key == "return_value").one_or_none()
            if row is None:
                return None
            v = row.value if not isinstance(row.value, (bytes, str)) else json.loads(row.value)
            keep = ("users", "rows", "model_version", "table_version", "recs_table_version", "decision", "challenger")
            return {k: v.get(k) for k in keep if isinstance(v, dict)}
    except Exception as e:  # noqa: BLE001 - a summary only; the timings above are the result
        return {"error": repr(e)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=parse_size("20M"), help="interactions (default 20M)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage", choices=("table", "dag"), required=True)
    ap.add_argument("--data-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "vodflow-recs-scale"))
    ap.add_argument("--results", default=str(RESULTS), help="results file to merge into")
    a = ap.parse_args(argv)
    data_dir = Path(a.data_dir)
    info = {"uptime_before": uptime(), "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    print(info["uptime_before"], flush=True)
    row = stage_table(a.size, a.seed, data_dir) if a.stage == "table" else stage_dag(a.size, a.seed, data_dir)
    info.update(uptime_after=uptime(), finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                commit=commit(), command="bench/recs_nightly.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(info["uptime_after"], flush=True)
    if a.stage == "dag":
        key = f"nightly_dag_{label(a.size)}"
        merge_results(Path(a.results), {key: {**row, **info, "interactions": a.size, "seed": a.seed}})
        print(f"wrote {key} to {a.results}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
