"""Posters and storyboards."""

from __future__ import annotations

import re

import pytest

from vodflow.media import make_posters, make_storyboard, probe
from vodflow.media.thumbnails import storyboard_vtt
from vodflow.media.verify import stream_dimensions


def test_posters_from_bbb(bbb, tmp_path):
    info = probe(bbb)
    res = make_posters(info, tmp_path)
    assert [(p.width, p.height) for p in res.posters] == [(1280, 720), (640, 360), (320, 180)]
    for p in res.posters:
        assert p.path.suffix == ".jpg" and p.path.read_bytes()[:2] == b"\xff\xd8"
        assert stream_dimensions(p.path)[:2] == (p.width, p.height)
    assert res.time == pytest.approx(0.1 * info.duration, abs=0.05)
    assert res.luma_mean > 32 and res.luma_std > 8


def test_poster_skips_a_black_opening(clip, tmp_path):
    info = probe(clip("blackstart"))              # 1.5 s of black, then the test pattern (4 s total)
    res = make_posters(info, tmp_path, widths=(320,))
    assert res.time >= 1.5
    assert res.luma_mean > 32


def test_poster_of_a_rotated_small_video_is_portrait_and_not_upscaled(clip, tmp_path):
    res = make_posters(clip("rot90"), tmp_path)   # displays 360x640
    # 1280 and 640 would upscale: they collapse into one poster at the picture's own width
    assert [(p.width, p.height) for p in res.posters] == [(360, 640), (320, 568)]
    assert [p.path.name for p in res.posters] == ["poster_360.jpg", "poster_320.jpg"]


def test_storyboard_sheets_and_vtt(bbb, tmp_path):
    info = probe(bbb)
    sb = make_storyboard(info, tmp_path, interval=1.0, columns=3, rows=1)
    assert sb.tiles == 5 and (sb.tile_width, sb.tile_height) == (160, 90)
    assert len(sb.sheets) == 2
    assert stream_dimensions(sb.sheets[0])[:2] == (480, 90)
    assert stream_dimensions(sb.sheets[1])[:2] == (320, 90)
    text = sb.vtt.read_text()
    assert text.startswith("WEBVTT")
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", text)
    assert len(cues) == 5
    assert cues[0][:2] == ("00:00:00.000", "00:00:01.000")
    assert cues[-1][1] == "00:00:05.280", "last cue runs to the end of the video"
    assert [c[2] for c in cues] == ["storyboard_001.jpg"] * 3 + ["storyboard_002.jpg"] * 2
    assert [tuple(map(int, c[3:])) for c in cues[:4]] == [(0, 0, 160, 90), (160, 0, 160, 90), (320, 0, 160, 90),
                                                           (0, 0, 160, 90)]
    for c in cues:
        assert (tmp_path / c[2]).is_file()


def test_storyboard_of_a_rotated_non_square_source(clip, tmp_path):
    sb = make_storyboard(clip("rot90"), tmp_path, interval=0.5)
    assert (sb.tile_width, sb.tile_height) == (160, 284)
    assert sb.tiles == 4 and len(sb.sheets) == 1
    sar = make_storyboard(clip("sar"), tmp_path / "sar")
    assert (sar.tile_width, sar.tile_height) == (160, 90)


def test_vtt_timestamps_format():
    vtt = storyboard_vtt(["s.jpg"], 2, 3600.5, 7300.0, 160, 90, 10, 10)
    assert "00:00:00.000 --> 01:00:00.500" in vtt and "01:00:00.500 --> 02:01:40.000" in vtt
