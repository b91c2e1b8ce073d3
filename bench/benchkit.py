"""Pieces the benchmarks share: run wrk, start and stop an API server in its own process group, the
commit being measured, merging a run's keys into a shared results file, and a poller that samples in a
thread while a block runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time


def wrk(url: str, script: str, duration: str, connections: int, threads: int) -> str:
    """wrk's report (``--latency``) for ``script`` (a Lua file path) against ``url``."""
    exe = shutil.which("wrk")
    if not exe:
        raise SystemExit("wrk is not installed: run scripts/system-deps.sh (Debian package wrk)")
    return subprocess.run([exe, "-t", str(threads), "-c", str(connections), "-d", duration, "--latency", "-s",
                           str(script), url], capture_output=True, text=True, check=True).stdout


def start_api(port: int, workers: int, env: dict[str, str], extra: tuple[str, ...] = (),
              cwd: str | None = None, python: str = sys.executable) -> subprocess.Popen:
    """``uvicorn vodflow.api.app:app`` on 127.0.0.1:``port``, returned once /healthz answers 200.
    ``cwd`` and ``python``: the checkout and interpreter whose code it runs (a baseline from another
    checkout: ``python -m`` imports ``vodflow`` from ``cwd`` first)."""
    import httpx

    p = subprocess.Popen([python, "-m", "uvicorn", "vodflow.api.app:app", "--host", "127.0.0.1",
                          "--port", str(port), "--workers", str(workers), "--log-level", "warning", *extra],
                         env=env, start_new_session=True, cwd=cwd)
    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return p
        except httpx.HTTPError:
            pass
        if p.poll() is not None:
            raise SystemExit("the API server exited; run it by hand to see why")
        time.sleep(0.5)
    stop(p)
    raise SystemExit("the API server did not become healthy")


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout``."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def commit() -> str:
    """The checked-out commit of this repository ("unknown" outside git)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def merge_results(path, update: dict) -> dict:
    """Write ``update`` over the JSON results file at ``path``, keeping its other keys (a dict value is
    merged one level deep), so benchmarks that share a file (bench/results/recs.json) keep each other's."""
    import json
    from pathlib import Path

    p = Path(path)
    old = json.loads(p.read_text()) if p.exists() else {}
    for key, val in update.items():
        if isinstance(val, dict) and isinstance(old.get(key), dict):
            old[key] = {**old[key], **val}
        else:
            old[key] = val
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(old, indent=2, default=str) + "\n")
    return old


class Poller:
    """A context manager that calls :meth:`poll` when the block starts, every ``every`` seconds in a daemon
    thread while it runs, and once more when it ends (subclasses keep what they sample)."""

    def __init__(self, every: float):
        self.every = every
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def poll(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def __enter__(self):
        self.poll()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.poll()
