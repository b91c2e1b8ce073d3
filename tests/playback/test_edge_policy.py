"""Popularity -> edge, end to end on real pieces: gold/title_hourly as a Delta table (delta-rs), the
catalog, this checkout's nginx edge on a private port in front of the stack's origin (tests/cdn/edgekit.py),
titles published as real HLS objects in the origin bucket.

The steps are the edge_policy DAG's (vodflow/playback/edge_policy.py): gold -> policy -> map + reload
(the same nginx master, no restart) -> prewarm through the signed path -> the first viewer of a
trending title hits the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cdn"))
from edgekit import origin_requests, private_edge, publish, unpublish  # noqa: E402

from vodflow.analytics.tables import TITLE_HOURLY  # noqa: E402
from vodflow.cdn.signing import sign_prefix  # noqa: E402

SEGMENTS = 6


def hls_title(vid: str) -> dict[str, bytes]:
    """A published title's objects: master (2 video rungs + audio), media playlists with init + 6 segments."""
    files = {"p1/master.m3u8": (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="aud"\n360p/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,AUDIO="aud"\n720p/index.m3u8\n').encode(),
        "p1/manifest.mpd": b"<?xml version='1.0'?><MPD/>"}
    for rung in ("360p", "720p", "audio"):
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", '#EXT-X-MAP:URI="init.mp4"']
        for i in range(1, SEGMENTS + 1):
            lines += ["#EXTINF:4.0,", f"seg_{i}.m4s"]
            files[f"p1/{rung}/seg_{i}.m4s"] = f"{vid} {rung} {i}".encode() * 64
        files[f"p1/{rung}/index.m3u8"] = ("\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n").encode()
        files[f"p1/{rung}/init.mp4"] = f"init {vid} {rung}".encode()
    return files


def write_gold(lake: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from vodflow.analytics.query import arrow_schema

    schema = arrow_schema(TITLE_HOURLY)
    data = pa.Table.from_pylist([{c: r.get(c) for c in TITLE_HOURLY.column_names} for r in rows], schema=schema)
    write_deltalake(str(lake / TITLE_HOURLY.path), data, mode="overwrite")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("edge-policy")
    lake = home / "lake"
    with private_edge(home, VODFLOW_LAKE_URI=str(lake), VODFLOW_EDGE_POPULAR_TOP="1",
                      VODFLOW_EDGE_PREWARM_SEGMENTS="2") as s:
        from vodflow.catalog import Catalog

        cat = Catalog(s.catalog_db_url)
        ids, keys = {}, []
        for name in ("hot", "cold", "trend"):
            vid = str(uuid.uuid4())
            keys += publish(s, vid, hls_title(vid))
            rec = cat.create_video(name, f"masters/{vid}/original.mp4", video_id=vid)
            cat.start_processing(rec.id, f"test-{vid}")
            cat.mark_ready(rec.id, [{"name": "360p", "width": 640, "height": 360, "fps": 25.0, "codecs": "avc1",
                                     "bandwidth": 800_000}],
                           {"hls": f"videos/{vid}/p1/master.m3u8", "dash": f"videos/{vid}/p1/manifest.mpd"})
            ids[name] = vid
        now = datetime.now(timezone.utc)
        hour = now.replace(minute=0, second=0, microsecond=0)
        rows = []
        for i in range(24):
            h = hour - timedelta(hours=i)
            rows.append(dict(video_id=ids["hot"], hour=h, views=50, completions=30))
            rows.append(dict(video_id=ids["cold"], hour=h, views=1, completions=0))
            rows.append(dict(video_id=ids["trend"], hour=h, views=60 if i == 0 else 1, completions=20 if i == 0 else 0))
        write_gold(lake, rows)
        yield {"s": s, "ids": ids, "home": home}
        unpublish(s, keys)


def _get(s, vid: str, name: str, signed: bool = True, method: str = "GET") -> requests.Response:
    q = "?" + sign_prefix(s, f"/videos/{vid}/", time.time() + 300).query if signed else ""
    return requests.request(method, f"http://127.0.0.1:{s['VODFLOW_EDGE_PORT']}/videos/{vid}/{name}{q}", timeout=20)


def _class(s, vid: str) -> str:
    return _get(s, vid, "p1/master.m3u8").headers["X-Edge-Class"]


def test_gold_decides_the_policy_and_nginx_takes_it_without_a_restart(world):
    from vodflow.playback import edge_policy as ep

    s, ids = world["s"], world["ids"]
    assert {_class(s, v) for v in ids.values()} == {"popular"}          # no policy yet: the static edge
    master_pid = (s.home / "edge" / "run" / "nginx.pid").read_text().strip()
    now = datetime.now(timezone.utc)
    rows = ep.hourly_views(s, now)
    assert {r.video_id for r in rows} == set(ids.values()) and len(rows) == 72
    policy = ep.decide(s, rows, now)
    assert policy.popular_ids == [ids["trend"], ids["hot"]]            # trending first, then the top 1
    assert policy.popular[0].trending and policy.tail_titles == 1
    assert ep.decide(s, rows, now).popular == policy.popular          # same gold, same policy (task retries)
    msg = ep.apply(s, policy)
    assert f"master pid {master_pid}" in msg
    deadline = time.monotonic() + 15                                   # old workers finish, new ones take over
    while _class(s, ids["cold"]) != "tail" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (_class(s, ids["hot"]), _class(s, ids["trend"]), _class(s, ids["cold"])) == ("popular", "popular", "tail")
    assert (s.home / "edge" / "run" / "nginx.pid").read_text().strip() == master_pid   # reloaded, not restarted
    # the policy opens nothing: unsigned requests are still refused
    r = _get(s, ids["hot"], "p1/360p/seg_1.m4s", signed=False)
    assert r.status_code == 403 and r.headers["X-Edge-Deny-Reason"] == "missing"


def test_prewarm_makes_the_trending_titles_first_viewer_hit(world):
    from vodflow.playback import edge_policy as ep

    s, ids = world["s"], world["ids"]
    done = {d["video_id"]: d for d in ep.prewarm(s, [ids["trend"], ids["hot"], str(uuid.uuid4())])}
    trend = done[ids["trend"]]
    # master + mpd + 3 media playlists + 3 init + 3 x 2 segments
    assert trend["requests"] == 14 and not trend["errors"], trend
    assert next(d for v, d in done.items() if v not in ids.values())["skipped"] == "not in the catalog"
    vid = ids["trend"]
    first_viewer = ["p1/master.m3u8", "p1/720p/index.m3u8", "p1/720p/init.mp4", "p1/720p/seg_1.m4s",
                    "p1/720p/seg_2.m4s", "p1/audio/init.mp4", "p1/audio/seg_1.m4s", "p1/360p/seg_2.m4s"]
    for name in first_viewer:
        r = _get(s, vid, name)
        assert r.status_code == 200 and r.headers["X-Cache-Status"] in ("HIT", "REVALIDATED"), (name, r.headers)
    assert _get(s, vid, "p1/720p/seg_5.m4s").headers["X-Cache-Status"] == "MISS"   # beyond the prewarm
    # prewarm moved each object once: a HEAD fills the cache with one origin GET
    assert origin_requests(s, f"/videos/{vid}/p1/720p/seg_1.m4s") == 1


def test_vodflow_edge_policy_shows_the_policy_in_force(world):
    s, ids = world["s"], world["ids"]
    env = {**os.environ, "VODFLOW_HOME": str(world["home"]), "VODFLOW_API_URL": s.api_url}
    vodflow = Path(sys.executable).with_name("vodflow")
    out = subprocess.run([str(vodflow), "edge", "policy", "--json"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    p = json.loads(out.stdout)
    assert [h["video_id"] for h in p["popular"]] == [ids["trend"], ids["hot"]] and p["tail_ttl_s"] == 600
    table = subprocess.run([str(vodflow), "edge", "policy"], env={**env, "COLUMNS": "200"}, capture_output=True,
                           text=True, timeout=120)
    assert table.returncode == 0 and ids["trend"] in table.stdout and "trending" in table.stdout
    assert "trend" in table.stdout and "revalidated after 600 s" in table.stdout


def test_a_long_tail_titles_objects_are_revalidated_after_the_tail_ttl(tmp_path):
    """The short lifetime of the tail: after VODFLOW_EDGE_TAIL_TTL the edge asks the origin again (a
    conditional request), while a popular title's segments stay fresh (the origin's year)."""
    from vodflow.cdn.edge import reload_edge
    from vodflow.cdn.policy import TitleHeat, choose, write_policy

    hot, cold = str(uuid.uuid4()), str(uuid.uuid4())
    with private_edge(tmp_path, VODFLOW_EDGE_TAIL_TTL="2") as s:
        keys = publish(s, hot, {"p1/v/seg_1.m4s": b"hot" * 100}) + publish(
            s, cold, {"p1/v/seg_1.m4s": b"cold" * 100, "p1/v/probe.m4s": b"probe"})
        try:
            write_policy(s, choose([TitleHeat(hot, 9, 9, 9, 1, False)], 5, tail_ttl_s=2,
                                   now=datetime.now(timezone.utc)))
            reload_edge(s)
            # wait for the reload on another object: a request to the segment before the new policy is in
            # force would cache it with the origin's year (seen once in CI, under load)
            deadline = time.monotonic() + 15
            while _get(s, cold, "p1/v/probe.m4s").headers["X-Edge-Class"] != "tail" and time.monotonic() < deadline:
                time.sleep(0.2)
            for vid in (hot, cold):
                assert _get(s, vid, "p1/v/seg_1.m4s").headers["X-Cache-Status"] in ("HIT", "MISS")
                assert _get(s, vid, "p1/v/seg_1.m4s").headers["X-Cache-Status"] == "HIT"
            time.sleep(3)
            assert _get(s, hot, "p1/v/seg_1.m4s").headers["X-Cache-Status"] == "HIT"
            r = _get(s, cold, "p1/v/seg_1.m4s")
            assert r.status_code == 200 and r.content == b"cold" * 100
            assert r.headers["X-Cache-Status"] in ("EXPIRED", "REVALIDATED")
            assert _get(s, cold, "p1/v/seg_1.m4s").headers["X-Cache-Status"] == "HIT"   # fresh again for 2 s
            assert "X-Accel-Expires" not in r.headers                                    # internal to the edge
        finally:
            unpublish(s, keys)


def test_the_fill_puts_popular_and_watched_titles_whole_and_stops_at_its_budget(world):
    """After the policy, the fill walks popular -> watched (whole) -> first seconds of the rest, through the
    signed path, and stops once its share of the cache is used; ``vodflow edge policy`` shows it."""
    from vodflow.cdn.policy import read_fill
    from vodflow.playback import edge_policy as ep
    from vodflow.settings import load

    s, ids = world["s"], world["ids"]
    now = datetime.now(timezone.utc)
    policy = ep.decide(s, ep.hourly_views(s, now), now)
    ep.apply(s, policy)
    small = load({**s.values, "VODFLOW_EDGE_CACHE_SIZE": "8k", "VODFLOW_EDGE_FILL_SHARE": "0.5"})
    cut = ep.fill_edge(small, policy)                                  # 4 KiB: part of the first title
    assert cut["cut_at"] == ids["hot"] and cut["titles"] == {"popular": 1} and not cut["errors"], cut
    assert 4096 <= cut["bytes"] < 4096 + 4096 and read_fill(small)["cut_at"] == ids["hot"]
    full = ep.fill_edge(load({**s.values, "VODFLOW_EDGE_CACHE_SIZE": "10m", "VODFLOW_EDGE_FILL_SHARE": "1"}), policy)
    assert full["cut_at"] is None and full["titles"] == {"popular": 2, "watched": 1} and not full["errors"], full
    for vid in ids.values():                                           # every segment of every rung, cold too
        for name in ("p1/720p/seg_6.m4s", "p1/audio/seg_6.m4s", "p1/360p/init.mp4"):
            assert _get(s, vid, name).headers["X-Cache-Status"] == "HIT", (vid, name)
    # a filled object is still refused without a signature, or with an expired one
    r = _get(s, ids["cold"], "p1/720p/seg_6.m4s", signed=False)
    assert r.status_code == 403 and r.headers["X-Edge-Deny-Reason"] == "missing"
    q = sign_prefix(s, f"/videos/{ids['cold']}/", time.time() - 5).query
    r = requests.get(f"http://127.0.0.1:{s['VODFLOW_EDGE_PORT']}/videos/{ids['cold']}/p1/720p/seg_6.m4s?{q}",
                     timeout=20)
    assert r.status_code == 403 and r.headers["X-Edge-Deny-Reason"] == "expired"
    again = ep.fill_edge(load({**s.values, "VODFLOW_EDGE_CACHE_SIZE": "10m", "VODFLOW_EDGE_FILL_SHARE": "1"}), policy)
    assert again["filled_bytes"] == 0 and again["bytes"] == full["bytes"]   # a second fill fetches nothing
    env = {**os.environ, "VODFLOW_HOME": str(world["home"]), "VODFLOW_API_URL": s.api_url, "COLUMNS": "200"}
    shown = subprocess.run([str(Path(sys.executable).with_name("vodflow")), "edge", "policy"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "last fill" in shown.stdout and "(2 popular, 1 watched)" in shown.stdout, shown


DAG_TEST_IDS = ("edge_policy",)


def test_the_edge_policy_dag_runs_gold_to_prewarm(world, request, monkeypatch):
    """dags/edge_policy.py with dag.test() in-process (the scheduler's copy is paused meanwhile): its
    tasks read the process settings, pointed here at this module's lake, catalog and private edge."""
    request.getfixturevalue("scheduler_paused")
    from airflow.dag_processing.dagbag import DagBag

    from vodflow.cdn.policy import clear_policy, read_policy
    from vodflow.settings import REPO_ROOT, get_settings

    from assetkit import pin_stack_asset_uris

    s, ids = world["s"], world["ids"]
    clear_policy(s)
    pin_stack_asset_uris(monkeypatch)
    for k, v in s.values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "edge_policy.py")).get_dag("edge_policy")
        run = dag.test()
        assert run.state == "success"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert read_policy(s).popular_ids == [ids["trend"], ids["hot"]]
    assert (_class(s, ids["hot"]), _class(s, ids["cold"])) == ("popular", "tail")
