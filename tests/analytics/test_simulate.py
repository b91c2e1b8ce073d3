"""The simulator: deterministic by seed, realistic shape, faults in the stated proportions; the senders."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from vodflow.analytics.events import EventValidationError, validate_event
from vodflow.analytics.simulate import simulate_sessions, synthetic_catalog

START = datetime(2025, 6, 1, tzinfo=timezone.utc)
NOW = START + timedelta(minutes=31)
CATALOG = synthetic_catalog(50, seed=3)


@pytest.fixture(scope="module")
def sim():
    return simulate_sessions(150, 30, CATALOG, seed=7, start=START)


def test_deterministic_by_seed(sim):
    again = simulate_sessions(150, 30, CATALOG, seed=7, start=START)
    strip = lambda evs: [e for e in evs if e.get("client_ts", "").startswith("2025")]  # noqa: E731 future_ts is clock-relative
    assert json.dumps(strip(again.events)) == json.dumps(strip(sim.events))
    assert again.stats() == sim.stats()
    other = simulate_sessions(150, 30, CATALOG, seed=8, start=START)
    assert other.events[:50] != sim.events[:50]


def test_fault_proportions(sim):
    n = sim.clean
    assert n > 5000
    assert sim.duplicates == round(n * 0.01) and sim.late == round(n * 0.02) and sim.malformed == round(n * 0.005)
    assert len(sim.events) == n + sim.duplicates
    ids = Counter(e.get("event_id") for e in sim.events)
    assert sum(c - 1 for c in ids.values() if c > 1) >= sim.duplicates
    # exactly the malformed events fail validation, with a reason
    failing = []
    for i, e in enumerate(sim.events):
        try:
            validate_event(e, now=NOW)
        except EventValidationError:
            failing.append(i)
    assert failing == sim.malformed_indexes and len(failing) == sim.malformed
    # late / out-of-order: client_ts goes backwards in delivery order, by minutes for some events
    ts = [datetime.fromisoformat(e["client_ts"]) for e in sim.events
          if isinstance(e.get("client_ts"), str) and e["client_ts"].startswith("2025") and len(e["client_ts"]) > 23]
    backwards = [(a - b) for a, b in zip(ts, ts[1:]) if b < a]
    assert len(backwards) >= sim.late // 2
    assert max(backwards) > timedelta(minutes=1)


def test_realistic_shape(sim):
    types = Counter(e.get("type") for e in sim.events)
    for t in ("startup", "video_started", "video_progress", "video_paused", "video_seek", "rebuffer_start",
              "rebuffer_end", "bitrate_switch", "video_completed"):
        assert types[t] > 0, t
    assert types["video_progress"] > 10 * types["video_started"]
    assert types["startup"] >= sim.sessions - sim.malformed
    # Zipf: the most popular title has many more sessions than the median one
    starts = Counter(e["video_id"] for e in sim.events if e.get("type") == "video_started")
    assert starts[CATALOG[0]] >= 5 * max(1, starts.get(CATALOG[25], 0))
    # progress every 10 s of playback; bitrate switches change rung
    assert all(e["played_s"] <= 10 for e in sim.events if e.get("type") == "video_progress")
    assert all(e["from_rung"] != e["to_rung"] for e in sim.events if e.get("type") == "bitrate_switch")
    # abandonment: most sessions do not complete
    assert types["video_completed"] < types["video_started"] / 2


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        simulate_sessions(1, 1, [], seed=0)


def test_cli_registration():
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command so that `events` is a sub-command, as in vodflow's CLI
        pass

    from vodflow.analytics.simulate import register

    register(app)
    r = CliRunner().invoke(app, ["events", "simulate", "--help"])
    assert r.exit_code == 0, r.output
    assert "--viewers" in r.output and "--minutes" in r.output and "--to" in r.output
    r = CliRunner().invoke(app, ["events", "simulate", "--to", "nowhere"])
    assert r.exit_code != 0


def test_send_through_the_api_and_to_kafka(events_topic_settings, tmp_path):
    """Small end-to-end: simulated events through the router (malformed refused) and straight to Kafka.
    The simulated viewers are not accounts: the simulator posts with an admin's token."""
    from authkit import make_user, token_for
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from vodflow.analytics.routes import create_router
    from vodflow.analytics.simulate import send_to_api, send_to_kafka
    from vodflow.settings import load

    api_settings = load({**events_topic_settings.values, "VODFLOW_CATALOG_DB_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    token = token_for(api_settings, make_user(api_settings, role="admin"))
    s = simulate_sessions(10, 5, CATALOG, seed=1, malformed_rate=0.02)
    app = FastAPI()
    app.include_router(create_router(api_settings))
    with TestClient(app) as c:
        with pytest.raises(RuntimeError, match="answered 401"):
            send_to_api(s.events[:5], "http://unused", client=c, token="not-a-token")
        res = send_to_api(s.events, "http://unused", batch_size=200, client=c, token=token)
    assert res["rejected"] == s.malformed and res["accepted"] == len(s.events) - s.malformed
    assert res["failed_batches"] == 0
    assert send_to_kafka(s.events[:100], events_topic_settings) == 100


def test_no_zero_progress_at_the_very_end():
    """A title whose last step is a sliver (< 0.5 ms) must not yield a ``video_progress`` with
    ``played_s`` 0, which the pipeline (rightly) quarantines as invalid."""
    import random

    from vodflow.analytics.simulate import _session

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    user = {"user_id": "u1", "device": "web", "country": "DE"}
    reached_end = 0
    for seed in range(200):
        events, _ = _session(random.Random(seed), t0, t0 + timedelta(hours=1), user,
                             "8b1f6a2e-6c1d-4b6e-9a3e-3f2d1c0b9a87", 20.0004)
        reached_end += any(e["type"] == "video_completed" for e in events)
        for e in events:
            validate_event(e, now=t0 + timedelta(hours=1))  # raises EventValidationError on a bad event
    assert reached_end > 0  # the case under test happened


def test_true_durations_bound_every_position():
    """With the catalog's durations (a 5.3 s clip, a 0.6 s sting, a 10 s clip) no event is past a title's
    end, sessions complete at the end, and every event is valid; ids without a duration get invented ones."""
    from vodflow.analytics.simulate import invented_durations

    durations = {CATALOG[0]: 5.32, CATALOG[1]: 0.6, CATALOG[2]: 10.0}
    s = simulate_sessions(120, 30, CATALOG[:4], seed=5, start=START, durations=durations, malformed_rate=0.0)
    true = {**invented_durations(CATALOG[:4], 5), **durations}
    ended = Counter()
    for e in s.events:
        validate_event(e, now=NOW)
        d = true[e["video_id"]]
        assert e["duration_s"] == d
        for key in ("position_s", "from_position_s", "to_position_s"):
            if key in e:
                assert 0 <= e[key] <= d, (key, e)
        ended[e["video_id"]] += e["type"] == "video_completed"
    assert ended[CATALOG[0]] > 0 and ended[CATALOG[1]] > 0 and ended[CATALOG[2]] > 0
    assert true[CATALOG[3]] > 400            # an id the catalog did not describe keeps a plausible length
    with pytest.raises(ValueError, match="durations must be positive"):
        simulate_sessions(1, 1, CATALOG[:1], durations={CATALOG[0]: 0})


def test_rejection_reasons_are_grouped_without_the_values():
    from vodflow.analytics.simulate import rejection_reason

    a = {"reason": "x", "errors": [{"field": "position_s", "reason": "Input should be >= 0 (got -3.5)"}]}
    b = {"reason": "x", "errors": [{"field": "position_s", "reason": "Input should be >= 0 (got -71.0)"}]}
    assert rejection_reason(a) == rejection_reason(b) == "position_s: Input should be >= 0"
    assert rejection_reason({"reason": "an event must be a JSON object"}) == "event: an event must be a JSON object"


def test_simulate_defaults_to_the_catalog_and_explains_rejections(tmp_path):
    """`events simulate` against a real API: the catalog's ready titles with their durations by default; no
    ready title is a plain error; all-rejected events (the API's real validation) print reasons, exit 1."""
    from authkit import make_user, token_for
    from catalogkit import catalog_api
    from typer.testing import CliRunner

    from vodflow.cli import app

    with catalog_api(tmp_path / "empty") as empty:
        r = CliRunner().invoke(app, ["events", "simulate", "--api-url", empty.url, "--viewers", "2"])
        assert r.exit_code == 1 and "has no ready title yet: upload one" in r.output
    with catalog_api(tmp_path / "cat", {"Clip": 5.32}) as api:
        # a token no account has: the API answers 401 and the command says so (exit 1)
        r = CliRunner().invoke(app, ["events", "simulate", "--api-url", api.url, "--viewers", "3", "--minutes", "2",
                                     "--token", "not-a-token"])
        assert r.exit_code == 1 and "titles: 1 (1 with their catalog duration)" in r.output
        assert "answered 401" in r.output
        # ids that are not UUIDs: the API's validation refuses every event (before Kafka): reasons, exit 1
        token = token_for(api.settings, make_user(api.settings, role="admin"))
        r = CliRunner().invoke(app, ["events", "simulate", "--api-url", api.url, "--viewers", "3", "--minutes", "2",
                                     "--video-ids", "clip-1", "--token", token])
        assert r.exit_code == 1, r.output
        assert "accepted 0" in r.output and "error: no event was accepted" in r.output
        reasons = [ln for ln in r.output.splitlines() if ln.strip().startswith("rejected") and "video_id" in ln]
        assert reasons, r.output  # grouped: one line per reason with its count
