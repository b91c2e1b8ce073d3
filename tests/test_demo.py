"""The demo's first hour on its own clips: two real titles, and enough simulated viewers who watched
both for recs_training to hold out a title per viewer (with one title it skips: no champion)."""

from __future__ import annotations

from collections import defaultdict

from vodflow.analytics.simulate import simulate_sessions
from vodflow.demo import DEMO_MINUTES, DEMO_VIEWERS, demo_clips
from vodflow.media.probe import probe


def test_the_demo_clips_give_viewers_with_two_titles():
    clips = demo_clips()
    assert len(clips) == 2 and all(c.is_file() for c in clips)
    durations = {f"{i:08d}-0000-4000-8000-000000000000": probe(c).duration for i, c in enumerate(clips)}
    assert all(0 < d < 30 for d in durations.values()), durations  # short clips: the true lengths, not 2 hours
    sim = simulate_sessions(DEMO_VIEWERS, DEMO_MINUTES, list(durations), seed=1, durations=durations,
                            malformed_rate=0.0)
    titles = defaultdict(set)
    for e in sim.events:
        assert e["position_s"] <= durations[e["video_id"]]
        if e["type"] == "video_started":
            titles[e["user_id"]].add(e["video_id"])
    both = sum(len(v) == 2 for v in titles.values())
    one = sum(len(v) == 1 for v in titles.values())
    assert both >= 20 and one >= 20, (both, one)  # holdout material, and viewers the model can recommend to
    completed = {e["video_id"] for e in sim.events if e["type"] == "video_completed"}
    assert completed == set(durations)            # short titles are watched to the end
