"""The edge policy's rules (vodflow/cdn/policy.py): scoring, trending, choice, the nginx map, the files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vodflow.cdn.policy import (STATIC_MAP, EdgePolicyError, FillItem, HourViews, TitleHeat, choose,
                                clear_policy, ensure_policy_file, fill_budget, fill_plan, map_file, read_fill,
                                read_policy, render_map, score_titles, size_bytes, write_fill, write_policy)
from vodflow.settings import load

NOW = datetime(2026, 12, 5, 17, 40, tzinfo=timezone.utc)
HOUR = NOW.replace(minute=0)


def hours_ago(n: int) -> datetime:
    return HOUR - timedelta(hours=n)


def test_recent_starts_weigh_more_and_completion_counts():
    rows = [HourViews("old", hours_ago(12), 100, 100),     # 100 starts half a day ago: 100 * 0.25 * 1.0 = 25
            HourViews("new", hours_ago(0), 30, 0),         # 30 starts now, nobody finishes: 30 * 1 * 0.5 = 15
            HourViews("done", hours_ago(0), 20, 20),       # 20 starts now, all finish: 20
            HourViews("gone", hours_ago(30), 1000, 1000)]  # outside the 24 h window
    heats = score_titles(rows, NOW)
    assert [(h.video_id, h.score) for h in heats] == [("old", 25.0), ("done", 20.0), ("new", 15.0)]
    assert {h.video_id: h.completion_rate for h in heats} == {"old": 1.0, "done": 1.0, "new": 0.0}


def test_a_title_whose_last_hour_jumps_is_trending():
    steady = [HourViews("steady", hours_ago(i), 20, 10) for i in range(24)]
    jump = [HourViews("jump", hours_ago(i), 2, 1) for i in range(1, 24)] + [HourViews("jump", hours_ago(0), 40, 5)]
    small = [HourViews("small", hours_ago(0), 5, 1)]                     # a jump from nothing, but tiny
    heats = {h.video_id: h for h in score_titles(steady + jump + small, NOW)}
    assert heats["jump"].trending and heats["jump"].views_last_hour == 40
    assert not heats["steady"].trending and not heats["small"].trending
    # a lake's first hours: no history, no trending (everything would look like a jump from zero)
    young = score_titles([HourViews("a", hours_ago(1), 30, 1), HourViews("a", hours_ago(0), 40, 1)], NOW)
    assert not young[0].trending
    # but a new title in a lake with history is trending when it jumps
    new = score_titles(steady + [HourViews("new", hours_ago(0), 60, 1)], NOW)
    assert {h.video_id: h.trending for h in new} == {"steady": False, "new": True}


def test_choose_puts_trending_first_then_the_top_scores():
    heats = [TitleHeat("a", 90, 900, 40, 0.5, False), TitleHeat("b", 80, 800, 30, 0.5, False),
             TitleHeat("c", 70, 700, 30, 0.5, False), TitleHeat("t", 5, 40, 40, 0.1, True)]
    p = choose(heats, 2, tail_ttl_s=600, now=NOW)
    assert p.popular_ids == ["t", "a", "b"] and p.tail_titles == 1 and p.tail_ttl_s == 600
    assert p.watched == ["c"]                                          # the watched tail, hottest first
    assert choose(heats, 0, tail_ttl_s=600, now=NOW).popular_ids == ["t"]
    with pytest.raises(EdgePolicyError):
        choose(heats, -1, tail_ttl_s=600, now=NOW)


def test_the_map_names_popular_titles_and_defaults_to_the_tail():
    p = choose([TitleHeat("3f2b8c1e-5d4a-4e8b-9c2f-1a6d7e8f9a0b", 9, 9, 9, 1, False)], 5, tail_ttl_s=60, now=NOW)
    text = render_map(p)
    assert "default tail;" in text and '"3f2b8c1e-5d4a-4e8b-9c2f-1a6d7e8f9a0b" popular;' in text
    evil = choose([TitleHeat('x"; default popular; #', 9, 9, 9, 1, False)], 5, tail_ttl_s=60, now=NOW)
    with pytest.raises(EdgePolicyError, match="cannot be written"):
        render_map(evil)


def test_files_round_trip_and_start_static(tmp_path):
    s = load({"VODFLOW_HOME": str(tmp_path)})
    assert read_policy(s) is None
    assert ensure_policy_file(s).read_text() == STATIC_MAP
    p = choose(score_titles([HourViews("v1", hours_ago(0), 12, 6)], NOW), 3, tail_ttl_s=600, now=NOW,
               as_of_hour=HOUR)
    write_policy(s, p)
    assert read_policy(s) == p and '"v1" popular;' in map_file(s).read_text()
    assert ensure_policy_file(s).read_text() == render_map(p)          # an existing policy is kept


def test_the_tail_ttl_pattern_matches_exactly_the_longer_max_ages():
    """The edge shortens a long-tail object's lifetime to the tail TTL only when the origin allows
    longer (nginx cannot compare numbers: a pattern does)."""
    import re

    from vodflow.cdn.edge import greater_than_re

    for n in (0, 9, 10, 600, 999, 3600):
        r = re.compile(greater_than_re(n))
        assert [k for k in range(20_000) if r.fullmatch(str(k))] == list(range(n + 1, 20_000))


def test_the_fill_plan_puts_popular_then_watched_titles_whole_then_everyone_s_first_seconds():
    heats = [TitleHeat("a", 90, 900, 40, 0.5, False), TitleHeat("b", 80, 800, 30, 0.5, False),
             TitleHeat("c", 70, 700, 30, 0.5, False), TitleHeat("t", 5, 40, 40, 0.1, True),
             TitleHeat("gone", 60, 600, 0, 0.5, False)]
    p = choose(heats, 1, tail_ttl_s=600, now=NOW)
    ready = ["new", "c", "a", "t", "b", "old"]                         # the catalog, newest first ("gone": deleted)
    assert fill_plan(p, ready, 3) == [
        FillItem("t", None, "popular"), FillItem("a", None, "popular"),
        FillItem("b", None, "watched"), FillItem("c", None, "watched"),
        FillItem("new", 3, "first seconds"), FillItem("old", 3, "first seconds")]
    # before any viewing: every ready title's first seconds, newest first
    empty = choose([], 20, tail_ttl_s=600, now=NOW)
    assert [(i.video_id, i.segments) for i in fill_plan(empty, ready, 2)] == [(v, 2) for v in ready]


def test_the_fill_budget_is_a_share_of_the_cache(tmp_path):
    assert [size_bytes(x) for x in ("2g", "512m", "64K", "1000")] == [2 << 30, 512 << 20, 64 << 10, 1000]
    with pytest.raises(EdgePolicyError, match="not a size"):
        size_bytes("2 GB")
    assert fill_budget(load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_EDGE_CACHE_SIZE": "512m",
                             "VODFLOW_EDGE_FILL_SHARE": "0.5"})) == 256 << 20
    with pytest.raises(EdgePolicyError, match="between 0 and 1"):
        fill_budget(load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_EDGE_FILL_SHARE": "50"}))
    s = load({"VODFLOW_HOME": str(tmp_path)})
    write_fill(s, {"bytes": 5})
    assert read_fill(s) == {"bytes": 5}
    clear_policy(s)
    assert read_fill(s) is None and map_file(s).read_text() == STATIC_MAP
