"""A new release is prewarmed when its ingest publishes it (``pipeline.prewarm_on_publish``, called by
``go_live`` once the catalog row is ready): the first viewer of each object hits the edge.

Real pieces: this checkout's nginx edge on a private port in front of the stack's origin gateway
(tests/cdn/edgekit.py), a title published as real HLS objects in the origin bucket, its catalog row.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cdn"))
from edgekit import origin_requests, private_edge, publish, unpublish  # noqa: E402

from vodflow.cdn.signing import sign_prefix  # noqa: E402

SEGMENTS = 4


def release(vid: str) -> dict[str, bytes]:
    """master -> one video rung: a media playlist with an init segment and 4 segments; a DASH manifest."""
    files = {"p1/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n",
             "p1/manifest.mpd": b"<?xml version='1.0'?><MPD/>", "p1/360p/init.mp4": f"init {vid}".encode()}
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", '#EXT-X-MAP:URI="init.mp4"']
    for i in range(1, SEGMENTS + 1):
        lines += ["#EXTINF:4.0,", f"seg_{i}.m4s"]
        files[f"p1/360p/seg_{i}.m4s"] = f"{vid} {i}".encode() * 100
    files["p1/360p/index.m3u8"] = ("\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n").encode()
    return files


def _get(s, vid: str, name: str) -> requests.Response:
    q = sign_prefix(s, f"/videos/{vid}/", time.time() + 300).query
    return requests.get(f"http://127.0.0.1:{s['VODFLOW_EDGE_PORT']}/videos/{vid}/{name}?{q}", timeout=20)


def _ready(s, vid: str):
    from vodflow.catalog import Catalog

    cat = Catalog(s.catalog_db_url)
    cat.create_video("new release", f"masters/{vid}/original.mp4", video_id=vid)
    cat.start_processing(vid, f"test-{vid}")
    return cat.mark_ready(vid, [{"name": "360p", "width": 640, "height": 360, "fps": 25.0, "codecs": "avc1",
                                 "bandwidth": 800_000}],
                          {"hls": f"videos/{vid}/p1/master.m3u8", "dash": f"videos/{vid}/p1/manifest.mpd"})


def test_a_published_release_is_prewarmed_and_its_first_viewer_hits_the_edge(tmp_path):
    from vodflow.ingest.pipeline import prewarm_on_publish

    with private_edge(tmp_path, VODFLOW_EDGE_PREWARM_SEGMENTS="2") as s:
        vid = str(uuid.uuid4())
        keys = publish(s, vid, release(vid))
        try:
            logged: list[str] = []
            r = prewarm_on_publish(_ready(s, vid), s, logged.append)
            # mpd + master + media playlist + init + the first 2 segments
            assert r is not None and not r.errors and r.requests == 6 and r.misses == 6, r
            assert "edge prewarmed on publish: 6 objects filled" in logged[0]
            for name in ("p1/master.m3u8", "p1/360p/index.m3u8", "p1/360p/init.mp4", "p1/360p/seg_1.m4s",
                         "p1/360p/seg_2.m4s"):
                resp = _get(s, vid, name)
                assert resp.status_code == 200 and resp.headers["X-Cache-Status"] == "HIT", (name, resp.headers)
            assert _get(s, vid, "p1/360p/seg_3.m4s").headers["X-Cache-Status"] == "MISS"   # beyond the prewarm
            assert origin_requests(s, f"/videos/{vid}/p1/360p/seg_1.m4s") == 1
        finally:
            unpublish(s, keys)


def test_prewarm_on_publish_can_be_switched_off_and_an_unreachable_edge_does_not_fail_the_release(tmp_path):
    from vodflow.ingest.pipeline import prewarm_on_publish
    from vodflow.settings import load

    vid = str(uuid.uuid4())
    rec = type("Rec", (), {"id": vid, "hls_master_key": f"videos/{vid}/p1/master.m3u8", "dash_mpd_key": None})
    off = load({**os.environ, "VODFLOW_EDGE_PREWARM_ON_PUBLISH": "0"})
    assert prewarm_on_publish(rec, off, print) is None
    # an edge nobody listens on: the release goes on, the failure is logged with its reason
    dead = load({**os.environ, "VODFLOW_EDGE_PREWARM_ON_PUBLISH": "1", "VODFLOW_EDGE_URL": "http://127.0.0.1:9",
                 "VODFLOW_EDGE_PORT": "9"})
    logged: list[str] = []
    r = prewarm_on_publish(rec, dead, logged.append)
    assert r is not None and r.errors and r.requests == 0
    assert "1 failed" in logged[0] and "ConnectError" in logged[0], logged
