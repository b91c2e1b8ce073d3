"""Ladder rules: pure unit tests (no ffmpeg)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from vodflow.media.ladder import (
    APPLE_H264_ROWS,
    cap_frame_rate,
    h264_level,
    output_frame_rate,
    plan_ladder,
    plan_ladder_for,
)
from vodflow.media.probe import SourceInfo


def info(width: int, height: int, *, sar: Fraction = Fraction(1), rotation: int = 0, fps: float = 25.0,
         vfr: bool = False, audio: bool = True) -> SourceInfo:
    """A SourceInfo as probe() would build it, for ladder tests."""
    dw, dh = round(width * sar), height
    if rotation in (90, 270):
        dw, dh = dh, dw
    rate = Fraction(fps).limit_denominator(1001)
    return SourceInfo(
        path="x.mp4", size_bytes=1, container="mov,mp4", duration=60.0, start_time=0.0, video_codec="h264",
        video_profile="High", width=width, height=height, sar=sar, rotation=rotation, display_width=dw,
        display_height=dh, pix_fmt="yuv420p", bit_depth=8, r_frame_rate=rate, avg_frame_rate=rate,
        fps=float(fps), is_vfr=vfr, nb_frames=None, has_audio=audio)


def sizes(rungs):
    return [(r.width, r.height) for r in rungs]


def test_1080p_master_gets_the_apple_table():
    rungs = plan_ladder(info(1920, 1080))
    assert [(r.width, r.height, r.video_bitrate // 1000) for r in rungs] == [
        (r.width, r.height, r.kbps) for r in APPLE_H264_ROWS]
    assert [r.name for r in rungs][-1] == "1080p_7800k"


def test_720p_master_is_never_upscaled():
    rungs = plan_ladder(info(1280, 720))
    assert max(r.height for r in rungs) == 720
    assert all(r.width <= 1280 and r.height <= 720 for r in rungs)
    assert [r.name for r in rungs][-2:] == ["720p_3000k", "720p_4500k"]


def test_4k_master_adds_1440p_and_2160p_rungs():
    rungs = plan_ladder(info(3840, 2160, fps=24))
    names = [r.name for r in rungs]
    assert names[-3:] == ["1440p_10900k", "2160p_15600k", "2160p_22600k"]
    assert {r.level for r in rungs if r.height == 2160} == {"5.1"}
    assert next(r for r in rungs if r.height == 1440).level == "5.0"
    assert plan_ladder(info(3840, 2160), include_uhd=False)[-1].height == 1080


@pytest.mark.parametrize("w,h", [(1920, 1080), (1280, 720), (1440, 1080), (720, 576), (1920, 800),
                                 (1080, 1920), (720, 1280), (1000, 1000), (641, 361), (853, 480),
                                 (3840, 2160), (4096, 2160), (2560, 1080), (426, 240), (160, 120),
                                 (1201, 677), (353, 289), (2160, 3840)])
def test_general_invariants(w, h):
    rungs = plan_ladder_for(w, h, 30)
    assert rungs, "always at least one rung"
    src_aspect = w / h
    for r in rungs:
        assert r.width % 2 == 0 and r.height % 2 == 0, r
        assert r.width <= w and r.height <= h, f"upscaled: {r}"
        # aspect kept to within the rounding of one even step
        assert abs(r.width / r.height - src_aspect) <= 2.5 / r.height * src_aspect + 0.01, r
        assert r.maxrate == int(r.video_bitrate * 1.5) and r.bufsize == r.video_bitrate * 2
        assert r.profile == "high"
        assert abs(r.gop_seconds - 2.0) < 0.01
    names = [r.name for r in rungs]
    assert len(set(names)) == len(names)
    assert [r.video_bitrate for r in rungs] == sorted(r.video_bitrate for r in rungs)


def test_portrait_gets_upright_boxes_with_the_same_pixels():
    land = plan_ladder(info(1920, 1080))
    port = plan_ladder(info(1080, 1920))
    assert sizes(port) == [(h, w) for w, h in sizes(land)]
    assert [r.video_bitrate for r in port] == [r.video_bitrate for r in land]


def test_rotation_uses_display_orientation():
    # a phone recording: 1920x1080 coded, rotated 90 -> portrait 1080x1920 on screen
    rungs = plan_ladder(info(1920, 1080, rotation=90))
    assert all(r.height > r.width for r in rungs)
    assert rungs[-1].width == 1080 and rungs[-1].height == 1920


def test_non_square_pixels_use_the_display_aspect():
    # NTSC DVD 16:9: 720x480 with SAR 32:27 shows as 853x480
    rungs = plan_ladder(info(720, 480, sar=Fraction(32, 27), fps=29.97))
    assert sizes(rungs) == [(416, 234), (640, 360), (768, 432), (768, 432)]
    # PAL 4:3: 720x576 SAR 16:15 -> 768x576
    rungs = plan_ladder(info(720, 576, sar=Fraction(16, 15)))
    assert rungs[-1].width * 3 == rungs[-1].height * 4


def test_bitrate_scales_with_pixel_count_when_not_16x9():
    four_three = plan_ladder(info(1440, 1080))
    assert sizes(four_three)[-1] == (1440, 1080)
    assert four_three[-1].video_bitrate == 5_850_000          # 7800k * 0.75
    scope = plan_ladder(info(1920, 804))                        # 2.39:1
    top = scope[-1]
    assert (top.width, top.height) == (1920, 804)
    assert top.video_bitrate == round(7800 * 1920 * 804 / (1920 * 1080)) * 1000


def test_native_rung_between_rows():
    rungs = plan_ladder_for(1200, 676, 30)
    assert rungs[-1].width == 1200 and rungs[-1].height == 676
    assert rungs[-1].video_bitrate == round(3000 * 1200 * 676 / (1280 * 720)) * 1000
    # only a little above the largest row that fits: not worth a rung of its own
    assert sizes(plan_ladder_for(1000, 562, 30))[-1] == (960, 540)


def test_tiny_source_gets_a_single_native_rung():
    rungs = plan_ladder_for(160, 120, 15)
    assert len(rungs) == 1
    assert (rungs[0].width, rungs[0].height) == (160, 120)
    assert rungs[0].video_bitrate >= 64_000


def test_odd_dimensions_become_even():
    rungs = plan_ladder_for(641, 361, 25)
    assert sizes(rungs) == [(416, 234), (640, 360)]


@pytest.mark.parametrize("src,top,low", [
    (60, Fraction(60), Fraction(30)), (50, Fraction(50), Fraction(25)),
    (Fraction(60000, 1001), Fraction(60000, 1001), Fraction(30000, 1001)),
    (120, Fraction(60), Fraction(30)), (24, Fraction(24), Fraction(24)), (25, Fraction(25), Fraction(25)),
    (Fraction(2997, 100), Fraction(30000, 1001), Fraction(30000, 1001)), (48, Fraction(48), Fraction(24)),
])
def test_frame_rate_caps(src, top, low):
    rungs = plan_ladder_for(1920, 1080, src)
    for r in rungs:
        expected = low if r.name.split("p_")[0].isdigit() and int(r.name.split("p_")[0]) <= 540 else top
        assert r.fps == expected, r
    # keyframes land on the same instants: every keyint spans the same time
    assert len({r.keyint / r.fps for r in rungs}) == 1


def test_vfr_sources_keep_their_own_cadence():
    """VFR: the cadence (1 / median interval) snapped to a standard rate, never resampled to 30 (issue 15)."""
    film = plan_ladder(info(1280, 720, fps=23.9, vfr=True))          # a film master that drops frames
    assert {r.fps for r in film} == {Fraction(24000, 1001)}
    assert {r.fps for r in plan_ladder(info(1280, 720, fps=10.5, vfr=True))} == {Fraction(10)}
    assert {r.fps for r in plan_ladder(info(1280, 720, fps=29.5, vfr=True))} == {Fraction(30000, 1001)}
    rungs = plan_ladder(info(1280, 720, fps=45, vfr=True))            # no standard rate near: the next one up
    assert rungs[-1].fps == 48 and rungs[0].fps == 24
    rungs = plan_ladder(info(1920, 1080, fps=59.9, vfr=True))        # high rates halved for low rungs only
    assert rungs[-1].fps == Fraction(60000, 1001) and rungs[0].fps == Fraction(30000, 1001)


def test_frame_rate_helpers():
    assert output_frame_rate(23.976, False) == Fraction(24000, 1001)
    assert output_frame_rate(24, False) == 24
    assert output_frame_rate(Fraction(25, 2), False) == Fraction(25, 2)
    assert cap_frame_rate(Fraction(120), 60) == 60
    assert cap_frame_rate(Fraction(100), 30) == 25
    assert cap_frame_rate(Fraction(24), 30) == 24


def test_keyint_is_two_seconds_in_frames():
    rungs = plan_ladder_for(1280, 720, Fraction(30000, 1001))
    assert {r.keyint for r in rungs} == {60}
    rungs = plan_ladder_for(1280, 720, 60)
    assert {(r.fps, r.keyint) for r in rungs} == {(30, 60), (60, 120)}


@pytest.mark.parametrize("w,h,fps,level", [
    (416, 234, 30, "1.3"), (640, 360, 30, "3.0"), (960, 540, 30, "3.1"), (1280, 720, 30, "3.1"),
    (1280, 720, 60, "3.2"), (1920, 1080, 30, "4.0"), (1920, 1080, 60, "4.2"), (3840, 2160, 30, "5.1"),
])
def test_h264_levels(w, h, fps, level):
    rung = next(r for r in plan_ladder_for(w, h, fps) if (r.width, r.height) == (w, h))
    assert rung.level == level


def test_level_respects_vbv():
    assert h264_level(640, 360, 30, 12_000_000, 16_000_000) == "3.1"
    with pytest.raises(ValueError, match="exceeds every H.264 level"):
        h264_level(16384, 16384, 120, 10**9, 10**9)


def test_audio_bitrate_and_no_audio():
    assert {r.audio_bitrate for r in plan_ladder(info(1280, 720))} == {128_000}
    assert {r.audio_bitrate for r in plan_ladder(info(1280, 720, audio=False))} == {0}


def test_many_sizes_never_upscale():
    for w, h in itertools.product(range(200, 4000, 373), range(150, 2200, 291)):
        for r in plan_ladder_for(w, h, 30):
            assert r.width <= w and r.height <= h


def test_invalid_size():
    with pytest.raises(ValueError):
        plan_ladder_for(0, 720, 30)
