"""`vodflow up`/`down` are serialized per VODFLOW_HOME (concurrent ups used to orphan services)."""

from __future__ import annotations

import threading
import time

from vodflow.settings import load
from vodflow.stack.manager import stack_lock


def test_second_caller_waits_for_the_first(tmp_path):
    s = load({"VODFLOW_HOME": str(tmp_path)})
    order, said = [], []
    inside = threading.Event()

    def first():
        with stack_lock(s, report=lambda m: None):
            inside.set()
            time.sleep(0.5)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with stack_lock(s, report=said.append):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
    assert said and "another `vodflow up`/`down` is running" in said[0]
