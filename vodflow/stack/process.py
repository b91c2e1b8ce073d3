"""Supervise one background service: pid file, log file, port check, health check.

A pid file stores ``pid create_time`` so a recycled pid is never mistaken for
our process; a pid file whose process is gone (crash, reboot, kill -9) is
reported as stale and removed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

HealthCheck = Callable[[], tuple[bool, str]]


class ServiceError(RuntimeError):
    """A service could not be started; the message says which and what to do."""


class PortInUseError(ServiceError):
    pass


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str
    state_dir: Path
    health: HealthCheck
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ports: list[tuple[str, int]] = field(default_factory=list)
    prestart: Callable[[], None] | None = None
    poststart: Callable[[], None] | None = None
    stop_timeout: float = 20.0
    description: str = ""

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"


@dataclass
class Status:
    name: str
    running: bool
    pid: int | None
    healthy: bool
    detail: str
    url: str
    rss_mb: float | None = None
    stale_cleaned: bool = False


# --------------------------------------------------------------------------- pid files
def read_pid(svc: Service) -> tuple[psutil.Process | None, bool]:
    """Return (process, stale). Stale pid files are removed."""
    try:
        text = svc.pid_file.read_text().split()
        pid, created = int(text[0]), float(text[1])
    except FileNotFoundError:
        return None, False
    except (ValueError, IndexError, OSError):
        svc.pid_file.unlink(missing_ok=True)  # corrupt pid file
        return None, True
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc, False
    except psutil.Error:
        pass
    svc.pid_file.unlink(missing_ok=True)
    return None, True


def _write_pid(svc: Service, proc: subprocess.Popen) -> None:
    svc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    created = psutil.Process(proc.pid).create_time()
    svc.pid_file.write_text(f"{proc.pid} {created}\n")


# --------------------------------------------------------------------------- ports
def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def who_listens(port: int) -> str:
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                p = psutil.Process(c.pid)
                return f"pid {c.pid} ({' '.join(p.cmdline()[:3])[:80]})"
    except psutil.Error:
        pass
    return "another process"


def log_tail(svc: Service, lines: int = 25) -> str:
    try:
        data = svc.log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(data[-lines:])


# --------------------------------------------------------------------------- lifecycle
def status(svc: Service) -> Status:
    proc, stale = read_pid(svc)
    if proc is None:
        return Status(svc.name, False, None, False, "stopped" + (" (stale pid file removed)" if stale else ""),
                      svc.url, stale_cleaned=stale)
    ok, detail = _safe_health(svc)
    rss = _tree_rss_mb(proc)
    return Status(svc.name, True, proc.pid, ok, detail, svc.url, rss_mb=rss)


def _tree_rss_mb(proc: psutil.Process) -> float | None:
    try:
        procs = [proc] + proc.children(recursive=True)
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.Error:
        return None


def _safe_health(svc: Service) -> tuple[bool, str]:
    try:
        return svc.health()
    except Exception as exc:  # noqa: BLE001 - a health check must never crash `status`
        return False, f"{type(exc).__name__}: {exc}"


def start(svc: Service) -> str:
    """Start ``svc`` unless it runs already. Returns 'already running' or 'started'."""
    proc, _stale = read_pid(svc)
    if proc is not None:
        return "already running"
    for host, port in svc.ports:
        if port_open(host, port):
            raise PortInUseError(
                f"{svc.name}: port {port} on {host} is already in use by {who_listens(port)}; "
                f"stop that process or change the port setting for {svc.name} (see `vodflow settings`)"
            )
    svc.log_file.parent.mkdir(parents=True, exist_ok=True)
    if svc.prestart:
        svc.prestart()
    env = {**os.environ, **svc.env}
    with open(svc.log_file, "ab") as log:
        log.write(f"\n==== vodflow: starting {svc.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        p = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=svc.cwd, start_new_session=True)
    _write_pid(svc, p)
    return "started"


def wait_healthy(svc: Service, timeout: float, cancel: "threading.Event | None" = None) -> None:
    """Poll until healthy; raise ServiceError if the process dies, time runs out, or ``cancel`` is set."""
    deadline = time.monotonic() + timeout
    detail = ""
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            raise ServiceError(f"{svc.name}: start-up cancelled because another service failed")
        proc, _ = read_pid(svc)
        if proc is None:
            raise ServiceError(f"{svc.name} exited during start-up. Last lines of {svc.log_file}:\n{log_tail(svc)}")
        ok, detail = _safe_health(svc)
        if ok:
            if svc.poststart:
                svc.poststart()
            return
        time.sleep(1.0)
    raise ServiceError(
        f"{svc.name} did not pass its health check within {timeout:.0f}s ({detail}). "
        f"Last lines of {svc.log_file}:\n{log_tail(svc)}"
    )


def stop(svc: Service) -> str:
    proc, stale = read_pid(svc)
    if proc is None:
        return "stale pid file removed" if stale else "not running"
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    procs = [proc] + _children(proc)
    _signal(pgid, procs, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=svc.stop_timeout)
    if alive:
        _signal(pgid, alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    svc.pid_file.unlink(missing_ok=True)
    return "stopped" if not alive else "killed after timeout"


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _signal(pgid: int | None, procs: list[psutil.Process], sig: int) -> None:
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass
