"""The supervisor that keeps the analytics stream alive: a killed child comes back, counted; SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from vodflow.stack.supervise import MAX_BACKOFF_S, MIN_BACKOFF_S, describe_exit, next_backoff, read_state


def test_backoff_doubles_on_quick_deaths_and_resets_after_a_healthy_run():
    waits, b = [], 0.0
    for _ in range(8):
        b = next_backoff(b, ran_s=3)
        waits.append(b)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert next_backoff(MAX_BACKOFF_S, ran_s=600) == MIN_BACKOFF_S
    assert describe_exit(-9) == "killed by SIGKILL" and describe_exit(3) == "exit code 3"


def _wait(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail("timed out")


def test_a_killed_child_is_restarted_and_counted_and_sigterm_stops_everything(tmp_path):
    state = tmp_path / "state.json"
    sup = subprocess.Popen([sys.executable, "-m", "vodflow.stack.supervise", "--state", str(state), "--name", "sleeper",
                            "--", sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        first = _wait(lambda: read_state(state).get("child_pid"))
        assert read_state(state)["restarts"] == 0
        os.kill(first, signal.SIGKILL)
        second = _wait(lambda: (read_state(state).get("child_pid") or first) != first and read_state(state)["child_pid"])
        st = read_state(state)
        assert st["restarts"] == 1 and st["last_exit"] == "killed by SIGKILL"
        assert psutil.pid_exists(second)
        os.killpg(sup.pid, signal.SIGTERM)          # what `vodflow down` does
        assert sup.wait(20) is not None
        assert not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)


def test_no_command_is_a_usage_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vodflow.stack.supervise", "--state", str(tmp_path / "s.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no command given" in r.stderr
