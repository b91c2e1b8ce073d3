"""Encoding: every awkward source shape comes out as square-pixel 8-bit H.264 at the planned size,
CFR, starting at 0, with IDRs on the same 2 s grid on every rung."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from mediakit import FAST, THREADS
from vodflow.media import (
    EncodeOptions,
    encode_ladder_per_rung,
    encode_ladder_single_process,
    package,
    plan_ladder,
    validate_source,
)
from vodflow.media.tools import ffmpeg_bin, ffprobe_bin, run_tool
from vodflow.media.verify import decode_segments, keyframe_times, quality_vs_source, video_duration


def stream(path, sel="v:0") -> dict:
    import json

    out = run_tool([ffprobe_bin(), "-v", "error", "-select_streams", sel, "-show_streams", "-of", "json",
                    str(path)]).stdout
    return json.loads(out)["streams"][0]


def check_rendition(path, rung, expected_duration: float) -> None:
    s = stream(path)
    assert (s["width"], s["height"]) == (rung.width, rung.height)
    assert s["sample_aspect_ratio"] in ("1:1", None) or "sample_aspect_ratio" not in s
    assert s["codec_name"] == "h264" and s["profile"] == "High" and s["pix_fmt"] == "yuv420p"
    assert Fraction(s["avg_frame_rate"]) == rung.fps
    assert "side_data_list" not in s or all("rotation" not in d or d["rotation"] == 0 for d in s["side_data_list"])
    d = video_duration(path)
    assert d.start == pytest.approx(0.0, abs=1e-3), "renditions start at t=0"
    assert abs(d.duration - expected_duration) <= 1 / float(rung.fps) + 1e-3, (d, expected_duration)
    kf = keyframe_times(path)
    assert kf[0] == pytest.approx(0.0, abs=1e-3)
    gop = rung.keyint / rung.fps
    expected = [float(k * gop) for k in range(int(d.duration / float(gop) - 1e-6) + 1)]
    assert kf == pytest.approx(expected, abs=1e-3), "IDR exactly every keyint frames"


SHAPES = ["rot90", "odd", "sar", "vfr", "tenbit", "noaudio", "hevc", "offset", "webm", "mov", "mkv"]


@pytest.mark.parametrize("name", SHAPES)
def test_encode_shapes(clip, tmp_path, name):
    info = validate_source(clip(name))
    rungs = plan_ladder(info)[:2]
    res = encode_ladder_single_process(info, rungs, tmp_path, options=FAST)
    expected = info.video_offset + info.duration
    for r in res.renditions:
        check_rendition(r.path, r.rung, expected)
    if info.display_height > info.display_width:
        assert all(r.rung.height > r.rung.width for r in res.renditions)
    if info.has_audio:
        a = stream(res.audio, "a:0")
        assert (a["codec_name"], a["channels"], a["sample_rate"]) == ("aac", 2, "48000")
        assert float(a.get("start_time", 0)) == pytest.approx(0.0, abs=0.03)
    else:
        assert res.audio is None and not (tmp_path / "audio.mp4").exists()


def test_60fps_master_keeps_keyframes_aligned_across_30_and_60_fps_rungs(clip, tmp_path):
    info = validate_source(clip("p60"))
    rungs = plan_ladder(info)
    pick = [rungs[0], rungs[-1]]
    assert [float(r.fps) for r in pick] == [30.0, 60.0]
    res = encode_ladder_single_process(info, pick, tmp_path, options=dataclasses.replace(FAST, preset="ultrafast"))
    kfs = [keyframe_times(r.path) for r in res.renditions]
    assert kfs[0] == pytest.approx([0.0, 2.0], abs=1e-3)
    assert kfs[1] == pytest.approx(kfs[0], abs=1e-3)


def test_progress_callback_reports_monotonic_fractions(clip, tmp_path):
    info = validate_source(clip("mov"))
    seen = []
    encode_ladder_single_process(info, plan_ladder(info)[:1], tmp_path, options=FAST, progress=seen.append)
    fr = [p.fraction for p in seen]
    assert fr and fr[-1] == 1.0
    assert fr == sorted(fr) and all(0 <= f <= 1 for f in fr)
    assert seen[-1].total_seconds == pytest.approx(info.duration, abs=0.05)


def test_per_rung_baseline_matches_single_process(clip, tmp_path):
    """Same chain and settings per rung: with one encoder thread x264 is deterministic, so the two
    strategies give bit-identical video; with threads it gives the same quality."""
    info = validate_source(clip("mkv"))
    rungs = plan_ladder(info)[:2]
    opts = EncodeOptions(preset="veryfast", threads=1)
    a = encode_ladder_single_process(info, rungs, tmp_path / "a", options=opts)
    progress = []
    b = encode_ladder_per_rung(info, rungs, tmp_path / "b", options=opts, progress=progress.append, parallel=2)
    assert b.method == "per_rung_parallel2" and progress[-1].fraction == 1.0

    def md5(p):
        return run_tool([ffmpeg_bin(), "-v", "error", "-i", str(p), "-map", "0:v", "-c", "copy", "-f", "md5",
                         "-"]).stdout.strip()

    for ra, rb in zip(a.renditions, b.renditions):
        assert md5(ra.path) == md5(rb.path), ra.rung.name
    assert b.audio is not None and b.audio.exists()
    q = quality_vs_source(info.path, [(r.path, r.rung.width, r.rung.height, r.rung.fps) for r in a.renditions],
                          top_fps=max(r.fps for r in rungs), threads=THREADS)
    assert all(x.psnr > 30 and x.ssim > 0.9 for x in q), q


@pytest.mark.parametrize("name", ["03_phone_rot180_vfr_h264_720p_aacmono_gps.mp4",
                                  "04_vp9_opus_720p_noduration.webm",
                                  "13_mkv_h264_opus_426x240_30.mkv"])
def test_shared_clip_excerpt_encodes_and_packages(shared_videos, tmp_path, name):
    info = validate_source(shared_videos / name)
    rungs = plan_ladder(info)[:2]
    opts = dataclasses.replace(FAST, max_duration=3.0)
    enc = encode_ladder_single_process(info, rungs, tmp_path / "enc", options=opts)
    for r in enc.renditions:
        check_rendition(r.path, r.rung, min(3.0, info.video_offset + info.duration))
    pkg = package(enc, tmp_path / "pkg", segment_duration=2)
    for name_, pl in pkg.media_playlists.items():
        results = decode_segments(pkg.path(pl), video=name_ != "audio")
        assert results and all(s.ok for s in results), results


def test_production_encode_balances_threads(clip, tmp_path):
    from vodflow.media import encode_ladder
    from vodflow.media.encode import balanced_encoder_threads

    assert balanced_encoder_threads(7, cores=2) == 1 and balanced_encoder_threads(9, cores=32) == 3
    info = validate_source(clip("noaudio"))
    rungs = plan_ladder(info)
    res = encode_ladder(info, rungs, tmp_path)
    argv = res.commands[0]
    per_encoder = [argv[i + 1] for i, a in enumerate(argv) if a == "-threads"]
    assert per_encoder == [str(balanced_encoder_threads(len(rungs)))] * len(rungs)
    for r in res.renditions:
        check_rendition(r.path, r.rung, info.duration)


def test_empty_ladder_is_an_error(clip, tmp_path):
    info = validate_source(clip("mov"))
    with pytest.raises(ValueError, match="empty ladder"):
        encode_ladder_single_process(info, [], tmp_path)
