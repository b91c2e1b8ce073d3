"""Issue 15's real-world masters through the video_ingest DAG (dag.test() against the real local stack).

The masters come from the generated corpus (tests/media/corpus.py): an HDR10 master, a multi-audio master and
a Blu-ray .m2ts with a 4,200 s clock each come out ready, published as the media tests expect.
"""

from __future__ import annotations

import sys

import m3u8
import pytest

from test_video_ingest_dag import _dag, _origin_keys, _upload_master
from vodflow import catalog
from vodflow.clients import s3_client
from vodflow.settings import REPO_ROOT

DAG_TEST_IDS = ("video_ingest",)
pytestmark = pytest.mark.usefixtures("scheduler_paused")


def _ingest_corpus_master(stack, tmp_path, name: str) -> tuple[str, object, dict]:
    """Generate corpus master ``name`` (tests/media/corpus.py), upload it, run the DAG; (id, run, catalog row)."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "media"))
    from corpus import by_name, make_master

    vid = _upload_master(stack, make_master(by_name(name), tmp_path), name)
    run = _dag().test(run_conf={"video_id": vid})
    return vid, run, catalog.get_video(vid).to_dict()


def test_hdr_master_is_published_tone_mapped(stack, tmp_path):
    """Issue 15: an HDR10 (PQ) HEVC master comes out ready, every rung SDR BT.709 (tone-mapped mezzanine)."""
    vid, run, rec = _ingest_corpus_master(stack, tmp_path, "hdr10_pq")
    assert run.state == "success", rec.get("error")
    assert rec["source_props"]["color_transfer"] == "bt709" and rec["source_props"]["video_codec"] == "h264"
    s3 = s3_client(stack)
    master = m3u8.loads(s3.get_object(Bucket=stack.bucket_origin, Key=rec["manifests"]["hls"])["Body"].read().decode())
    assert {p.stream_info.video_range for p in master.playlists} == {"SDR"}


def test_multi_audio_master_publishes_alternate_languages(stack, tmp_path):
    """The default track is the main audio; the other one is published as an alternate language (encrypted too)."""
    vid, run, rec = _ingest_corpus_master(stack, tmp_path, "multi_audio")
    assert run.state == "success", rec.get("error")
    s3 = s3_client(stack)
    master = m3u8.loads(s3.get_object(Bucket=stack.bucket_origin, Key=rec["manifests"]["hls"])["Body"].read().decode())
    audio = {m.language: m.default for m in master.media if m.type == "AUDIO"}
    assert audio == {"en": "YES", "fr": "NO"}
    keys = _origin_keys(stack, vid)
    assert any("/audio_fra/" in k and k.endswith(".m4s") for k in keys)


def test_bluray_m2ts_with_a_4200_s_clock_is_ingested(stack, tmp_path):
    """A Blu-ray .m2ts (H.264 + AC-3 5.1, TS clock at 4,200 s) comes out ready with a storyboard (it failed in the
    storyboard step before issue 15)."""
    vid, run, rec = _ingest_corpus_master(stack, tmp_path, "bluray_offset_m2ts")
    assert run.state == "success", rec.get("error")
    assert rec["status"] == "ready" and rec["thumbnails"]["storyboard_vtt"].endswith(".vtt")
    # the catalog describes what was encoded: the TS stream-copied into Matroska (a seek index), 5.1 kept
    assert rec["source_props"]["container"].startswith("matroska") and rec["source_props"]["audio_channels"] == 6
