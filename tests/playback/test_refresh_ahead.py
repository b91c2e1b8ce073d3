"""The refresh-ahead cache behind /play: fresh, stale-but-served (one background reload), unusable."""

from __future__ import annotations

import threading
import time

from vodflow.playback.refresh_ahead import RefreshAhead


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def make(load, clock):
    return RefreshAhead(load, fresh=lambda v, age: age < 10, usable=lambda v, age: age < 60,
                        keep=lambda v: v is not None and not v.startswith("skip"), clock=clock)


def test_fresh_entry_is_served_without_loading():
    clock, calls = Clock(), []
    c = make(lambda k: calls.append(k) or f"{k}-v{len(calls)}", clock)
    assert c.peek("a") is None                     # nothing yet: the caller loads
    assert c.get("a") == "a-v1" and calls == ["a"]
    clock.t += 9
    assert c.peek("a") == "a-v1" and c.get("a") == "a-v1" and calls == ["a"]


def test_stale_entry_is_served_while_one_background_reload_runs():
    clock, calls = Clock(), []
    gate = threading.Event()

    def load(k):
        calls.append(k)
        if len(calls) > 1:
            gate.wait(5)                           # hold the background reload until the peeks are done
        return f"{k}-v{len(calls)}"

    c = make(load, clock)
    c.get("a")
    clock.t += 11                                  # stale, still usable
    assert [c.peek("a") for _ in range(20)] == ["a-v1"] * 20   # served at once, never blocks
    gate.set()
    assert wait_for(lambda: c.reloads == 1)
    assert calls == ["a", "a"]                     # twenty stale peeks queued one reload
    assert c.peek("a") == "a-v2"                   # the new value, fresh again (loaded at the same clock)


def test_unusable_entry_is_not_served():
    clock = Clock()
    c = make(lambda k: "v", clock)
    c.get("a")
    clock.t += 61
    assert c.peek("a") is None


def test_reload_that_says_do_not_keep_drops_the_entry():
    clock, answers = Clock(), iter(["ready", "skip: no longer ready"])
    c = make(lambda k: next(answers), clock)
    assert c.get("a") == "ready"
    clock.t += 11
    assert c.peek("a") == "ready"
    assert wait_for(lambda: c.reloads == 1)
    assert c.peek("a") is None and len(c) == 0


def test_get_of_an_uncacheable_value_returns_it_without_caching():
    c = make(lambda k: "skip-me", Clock())
    assert c.get("a") == "skip-me" and c.peek("a") is None


def test_failed_background_reload_keeps_the_stale_value_and_retries_later(caplog):
    clock, n = Clock(), {"calls": 0}

    def load(k):
        n["calls"] += 1
        if n["calls"] == 2:
            raise ConnectionError("catalog down")
        return f"v{n['calls']}"

    c = make(load, clock)
    c.get("a")
    clock.t += 11
    assert c.peek("a") == "v1"
    assert wait_for(lambda: n["calls"] == 2 and "catalog down" in caplog.text)
    assert wait_for(lambda: not c._pending)         # the failed reload is over ...
    assert c.peek("a") == "v1"                      # ... the stale value is still served, and this peek retries
    assert wait_for(lambda: c.peek("a") == "v3") and n["calls"] == 3
