"""`vodflow up / down / status`: start, stop and inspect the local stack as a whole."""

from __future__ import annotations

import fcntl
import shutil
import time
import threading
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable

from vodflow.java import find_java
from vodflow.settings import Settings
from vodflow.stack import bootstrap, process, seaweedfs
from vodflow.stack.process import Service, ServiceError, Status
from vodflow.stack.services import all_services, enabled, groups, local_hosts, postgres_on

Report = Callable[[str], None]


class StackError(RuntimeError):
    pass


@dataclass
class UpResult:
    already_running: bool
    started: list[str]
    seconds: float
    statuses: list[Status]


def services_by_name(s: Settings) -> dict[str, Service]:
    return {svc.name: svc for svc in all_services(s)}


def preflight(s: Settings) -> None:
    """Fail early, naming the fix, when a prerequisite is missing."""
    find_java(s)
    for comp in ("kafka", "s3proxy", "spark"):
        d = s.home / "jars" / comp
        if not d.is_dir() or not any(d.glob("*.jar")):
            hint = "" if shutil.which("mvn") else " (Maven is not installed: `apt-get install -y maven`)"
            raise StackError(f"{comp} jars are missing in {d}: run `make jars`{hint}")
    if s.lake_uri.startswith("s3a://"):
        from vodflow.spark import SparkSetupError, s3a_jars

        try:
            s3a_jars(s)
        except SparkSetupError as e:
            raise StackError(str(e)) from None
    if seaweedfs.on(s):
        try:
            seaweedfs.address(s)
            seaweedfs.bucket(s)
        except seaweedfs.LakeS3Error as e:
            raise StackError(str(e)) from None
        if not seaweedfs.binary(s).is_file():
            raise StackError(f"VODFLOW_LAKE_S3=on but {seaweedfs.binary(s)} is missing: run `make seaweedfs` "
                             "(`make install PROFILE=cluster` does it; needs Go 1.26.6+)")
    try:
        ladder = s.ladder_mode
    except ValueError as e:
        raise StackError(str(e)) from None
    if ladder == "per-title":  # the per-title ladder scores trial encodes with VMAF (imageio-ffmpeg's libvmaf)
        from vodflow.media.vmaf import VmafUnavailable, check_vmaf

        try:
            check_vmaf()
        except VmafUnavailable as e:
            raise StackError(f"per-title ladders need VMAF: {e} (or set VODFLOW_LADDER=fixed)") from None


@contextmanager
def stack_lock(s: Settings, report: Report = print):
    """One `up`/`down` at a time per VODFLOW_HOME. Two concurrent `up`s (two test sessions, or a test
    fixture and an operator) would otherwise both start a service and one pid file would lose track
    of its process, leaving an orphan (e.g. a second Airflow scheduler) holding ports and CPU."""
    path = s.home / "run" / "stack.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report("[yellow]another `vodflow up`/`down` is running on this VODFLOW_HOME; waiting for it ...[/]")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def up(s: Settings, report: Report = print, only: list[str] | None = None) -> UpResult:
    with stack_lock(s, report):
        return _up(s, report, only)


def _up(s: Settings, report: Report, only: list[str] | None) -> UpResult:
    t0 = time.monotonic()
    preflight(s)
    svcs = services_by_name(s)
    wanted = [n for g in groups(s) for n in g if enabled(s, n) and (not only or n in only)]
    current = {n: process.status(svcs[n]) for n in wanted}
    for n, st in current.items():
        if st.stale_cleaned:
            report(f"[yellow]{n}: removed a stale pid file (the process had died)[/]")
    if all(st.running for st in current.values()):
        return UpResult(True, [], time.monotonic() - t0, list(current.values()))

    started: list[str] = []
    try:
        for group in groups(s):
            names = [n for n in group if n in wanted]
            for n in names:
                if process.start(svcs[n]) == "started":
                    started.append(n)
                    report(f"starting {n} ...")
            _wait_group([svcs[n] for n in names], s.up_timeout)
            for n in names:
                report(f"[green]{n} healthy[/] {svcs[n].url}")
            if "s3" in names:
                made = bootstrap.ensure_buckets(s)
                if made:
                    report(f"created buckets: {', '.join(made)}")
            # an s3a:// lake's bucket, on its own server (lake-s3) or on the media's
            if "lake-s3" in names or ("s3" in names and s.lake_bucket and not seaweedfs.on(s)):
                made = bootstrap.ensure_lake_bucket(s)
                if made:
                    report(f"created the lake's bucket {made} on {s.lake_s3_endpoint}")
            if any(n == "kafka" or n.startswith("kafka-") for n in names):
                made = bootstrap.ensure_topics(s)
                if made:
                    report(f"created topics: {', '.join(made)}")
    except BaseException as exc:
        # Leave nothing half-running: stop what this call started, newest first.
        for n in reversed(started):
            process.stop(svcs[n])
        if isinstance(exc, ServiceError):
            raise StackError(str(exc)) from exc
        raise
    return UpResult(False, started, time.monotonic() - t0, [process.status(svcs[n]) for n in wanted])


def _wait_group(group: list[Service], timeout: float) -> None:
    """Wait for a group started together; the first failure cancels the others at once."""
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, len(group))) as pool:
        futs = [pool.submit(process.wait_healthy, svc, timeout, cancel) for svc in group]
        errors = []
        for f in as_completed(futs):
            try:
                f.result()
            except ServiceError as e:
                cancel.set()
                errors.append(e)
    real = [e for e in errors if "cancelled because" not in str(e)]
    if real or errors:
        raise (real or errors)[0]


def down(s: Settings, report: Report = print) -> None:
    with stack_lock(s, report):
        svcs = services_by_name(s)
        for group in reversed(groups(s)):
            for n in reversed(group):
                res = process.stop(svcs[n])
                if res != "not running":
                    report(f"{n}: {res}")


def catalog_service(s: Settings) -> str | None:
    """The stack service holding the catalog database (``postgres`` when VODFLOW_CATALOG_DB_URL names the local
    PostgreSQL `vodflow up` runs), else None (SQLite, or a server the stack does not run)."""
    from vodflow.stack import postgres  # sqlalchemy's URL parser: only when asked

    if postgres_on(s) and "VODFLOW_CATALOG_DB_URL" in postgres.local_urls(s.values, local_hosts(s)):
        return "postgres"
    return None


def catalog_down(s: Settings) -> str | None:
    """The catalog's stack service when it is not running (e.g. `vodflow up --only ...` without it), else None:
    `vodflow up` then skips the admin account instead of failing on a database nobody started."""
    name = catalog_service(s)
    if name is None or process.status(services_by_name(s)[name]).running:
        return None
    return name


def status(s: Settings) -> list[Status]:
    svcs = services_by_name(s)
    return [process.status(svcs[n]) for g in groups(s) for n in g]
