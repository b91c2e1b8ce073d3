"""Keep one long-running job alive: restart it when it dies, with backoff, and count the restarts.

    python -m vodflow.stack.supervise --state FILE [--name NAME] -- COMMAND [ARGS...]

The stack runs the analytics stream under this (``vodflow up``), so a stream that is killed (OOM,
SIGKILL, a crashed JVM) comes back by itself from its checkpoint - losing nothing, only freshness -
instead of staying down until someone runs ``vodflow up``. Rules:

* the child runs in the supervisor's process group, so ``vodflow down`` (SIGTERM to the group) stops
  both; on SIGTERM/SIGINT the supervisor stops restarting, waits for the child and exits;
* after an exit the next start waits 1, 2, 4 ... up to 60 s (doubling on each quick death); a child
  that ran at least 5 minutes counts as healthy again and restarts after 1 s;
* every restart is written to the JSON ``--state`` file (count, last exit code or signal, when), which
  ``vodflow status`` shows.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_RUN_S = 300.0


def next_backoff(previous: float, ran_s: float) -> float:
    """The wait before the next start: reset after a healthy run, else double (capped)."""
    if ran_s >= HEALTHY_RUN_S or previous <= 0:
        return MIN_BACKOFF_S
    return min(MAX_BACKOFF_S, previous * 2)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def write_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def read_state(path: Path) -> dict:
    """The supervisor's state file, or {} when there is none (not supervised / not started yet)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def supervise(argv: list[str], state_file: Path, name: str, stop: threading.Event) -> int:
    state = {"name": name, "restarts": 0, "last_exit": None, "last_restart_at": None, "child_pid": None,
             "started_at": time.time()}
    backoff = 0.0
    while True:
        t0 = time.monotonic()
        child = subprocess.Popen(argv)
        state["child_pid"] = child.pid
        write_state(state_file, state)
        while child.poll() is None:
            if stop.wait(0.5):
                child.send_signal(signal.SIGTERM)
                try:
                    return child.wait(120)
                except subprocess.TimeoutExpired:
                    child.kill()
                    return child.wait()
        code = child.returncode
        if stop.is_set():
            return code
        ran = time.monotonic() - t0
        backoff = next_backoff(backoff, ran)
        state.update(restarts=state["restarts"] + 1, last_exit=describe_exit(code),
                     last_restart_at=time.time() + backoff, child_pid=None)
        write_state(state_file, state)
        print(f"supervise: {name} ended after {ran:.0f} s ({describe_exit(code)}); restarting in {backoff:.0f} s "
              f"(restart {state['restarts']})", file=sys.stderr, flush=True)
        if stop.wait(backoff):
            return code


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vodflow.stack.supervise", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True, help="JSON file for the restart count (read by `vodflow status`)")
    ap.add_argument("--name", default="job")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    a = ap.parse_args(args)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given: write -- COMMAND [ARGS...]")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return supervise(cmd, Path(a.state), a.name, stop)


if __name__ == "__main__":
    raise SystemExit(main())
