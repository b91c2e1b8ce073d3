"""The stack keeps the analytics stream alive: SIGKILL its process (the JVM goes with it) and the
supervisor starts it again from its checkpoint, with the restart counted in `vodflow status`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from vodflow.stack.supervise import read_state


def test_a_killed_stream_is_restarted_by_the_stack(stack):
    state_file = stack.home / "run" / "analytics-stream.restarts.json"
    if not state_file.exists():
        pytest.skip("the analytics stream is not running under the stack (VODFLOW_EVENTS_STREAM=off?)")
    before = read_state(state_file)
    child = before["child_pid"]
    assert child and psutil.pid_exists(child)
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 300
    healthy = None
    while time.monotonic() < deadline:
        st = read_state(state_file)
        if st.get("restarts", 0) > before.get("restarts", 0) and st.get("child_pid") not in (None, child):
            r = subprocess.run([sys.executable, "-m", "vodflow.cli", "status", "--json"], capture_output=True,
                               text=True, timeout=120)
            svc = {x["name"]: x for x in json.loads(r.stdout)}["analytics-stream"]
            if svc["healthy"]:
                healthy = svc
                break
        time.sleep(2)
    assert healthy, f"the stream did not come back healthy within 300 s: {read_state(state_file)}"
    assert f"restarts {before.get('restarts', 0) + 1}" in healthy["detail"]
    assert "killed by SIGKILL" in healthy["detail"]
