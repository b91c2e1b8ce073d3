"""AV1 masters: the bundled ffmpeg cannot decode them, so a lossless mezzanine is made first."""

from pathlib import Path

import pytest

from vodflow.media import plan_ladder, validate_source
from vodflow.media.mezzanine import decodable_master, fallback_can_decode
from vodflow.media.probe import probe

AV1 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos" / "14_av1_720p25_fmp4_noaudio.mp4"


def test_fallback_decoder_has_av1():
    assert fallback_can_decode("av1")


def test_av1_master_becomes_a_decodable_lossless_mezzanine(tmp_path):
    if not AV1.exists():
        pytest.skip(f"shared data not found at {AV1.parent} (it sits beside the checkout in CI)")
    src = probe(AV1)
    mez = decodable_master(AV1, tmp_path)
    assert mez != AV1 and mez.exists()
    info = validate_source(mez)
    assert info.video_codec == "h264"
    assert (info.display_width, info.display_height) == (src.display_width, src.display_height)
    assert abs(info.duration - src.duration) <= 1 / 25 + 1e-3
    assert [r.height for r in plan_ladder(info)][-1] == 720


def test_decodable_master_is_identity_for_supported_codecs(tmp_path, bbb):
    assert decodable_master(bbb, tmp_path) == bbb


def test_transport_streams_are_remuxed_into_an_indexed_container(tmp_path, clip):
    """A TS (no seek index) is stream-copied into Matroska: same packets, same start offset between A and V."""
    from vodflow.media.verify import video_duration

    ts = clip("offset")
    src = probe(ts)
    mez = decodable_master(ts, tmp_path)
    assert mez.suffix == ".mkv" and mez != ts
    info = validate_source(mez)
    assert info.container.startswith("matroska") and info.video_codec == src.video_codec
    assert video_duration(mez).frames == video_duration(ts).frames, "stream copy: every frame kept"
    assert abs(info.video_offset - src.video_offset) < 0.002
    assert abs(info.duration - src.duration) <= 1 / src.fps + 1e-3
