"""Real-world masters (issue 15): the generated corpus (tests/media/corpus.py) through the pipeline's media steps.

Every master reaches its expected outcome; the outputs are checked with ffprobe and by decoding them:
SDR colour tags on every rung (never PQ/HLG), progressive frames, the source's cadence, A/V timing kept
within one frame, the default audio track, the 5.1 downmix, alpha flattened, full range made limited.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from corpus import (FLASH_AT, MASTERS, by_name, comb, flash_minus_beep, luma_frames, make_master,
                    master_flash_minus_beep, native_crop, pcm, run_pipeline)
from vodflow.media.tools import ffmpeg_bin, ffprobe_bin, run_tool
from vodflow.media.verify import keyframe_times

HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory):
    """``corpus_run(name)`` -> Outcome of that master through the pipeline (made and run once per session)."""
    root = tmp_path_factory.mktemp("masters")
    done: dict[str, object] = {}

    def get(name: str):
        if name not in done:
            m = by_name(name)
            done[name] = run_pipeline(make_master(m, root), root / "work" / name)
        return done[name]

    return get


def streams(path: Path, sel: str) -> list[dict]:
    out = run_tool([ffprobe_bin(), "-v", "error", "-select_streams", sel, "-show_streams", "-of", "json",
                    str(path)]).stdout
    return json.loads(out)["streams"]


@pytest.mark.parametrize("m", MASTERS, ids=[m.name for m in MASTERS])
def test_every_master_reaches_its_expected_outcome(corpus_run, m):
    out = corpus_run(m.name)
    assert out.outcome == m.expected, (m.name, out.outcome, out.reason)
    if out.outcome.startswith("rejected"):
        r = out.reason
        assert r[0].isupper() and r.endswith(".") and "/" not in r and "ffmpeg" not in r, r
        assert any(w in r for w in ("send", "upload")), r
    else:
        assert out.packaged.master_playlist and (out.work / "package" / "thumbs" / "storyboard.vtt").exists()


READY = [m.name for m in MASTERS if m.expected == "ready"]


@pytest.mark.parametrize("name", READY)
def test_every_rung_is_sdr_progressive_and_starts_with_the_audio(corpus_run, name):
    out = corpus_run(name)
    for r in out.encoded.renditions:
        (s,) = streams(r.path, "v:0")
        assert s.get("color_transfer") not in HDR_TRANSFERS and s.get("color_primaries") != "bt2020", s
        assert s.get("color_transfer") and s.get("color_primaries") and s.get("color_range") == "tv", s
        assert s.get("field_order", "progressive") == "progressive", s
        assert abs(float(s.get("start_time", 0))) < 1e-3
        assert Fraction(s["avg_frame_rate"]) == r.rung.fps
    if out.encoded.audio:
        (a,) = streams(out.encoded.audio, "a:0")
        top = out.rungs[-1]
        assert abs(float(a.get("start_time", 0))) <= 1 / float(top.fps), "A/V start within one frame"
        assert a["channels"] == 2


@pytest.mark.parametrize("name", ["hdr10_pq", "hlg"])
def test_hdr_is_tone_mapped_to_bt709(corpus_run, name):
    out = corpus_run(name)
    assert out.original.hdr_transfer in ("pq", "hlg") and out.source.hdr_transfer is None
    for r in out.encoded.renditions:
        (s,) = streams(r.path, "v:0")
        assert (s["color_primaries"], s["color_transfer"], s["color_space"]) == ("bt709", "bt709", "bt709")
    y = luma_frames(out.encoded.renditions[-1].path)
    assert 40 < y.mean() < 200 and y.std() > 20, "a tone-mapped picture, neither crushed nor washed out"


def test_interlaced_masters_come_out_progressive_at_field_rate(corpus_run):
    tff = corpus_run("interlaced_tff_mts")
    assert tff.original.field_order == "tt" and tff.original.container == "mpegts"
    assert tff.rungs[-1].fps == 50 and tff.rungs[0].fps == 25, "1080i50 -> 50p top, 25p low rungs"
    bff = corpus_run("interlaced_bff_mpeg2")
    assert bff.original.field_order in ("bb", "bt") and bff.original.video_codec == "mpeg2video"
    assert {r.fps for r in bff.rungs} == {Fraction(30000, 1001)}, "480i59.94 -> 59.94p halved for SD rungs"
    woven = corpus_run("interlaced_idet_avi")   # no field flags in MPEG-4 Part 2: idet finds the fields
    assert (woven.original.field_order, woven.original.field_order_source) == ("tt", "idet")
    assert {r.fps for r in woven.rungs} == {25}
    # no combing: at full size the deinterlaced top rung zigzags far less than the woven master
    top = tff.encoded.renditions[-1]
    assert (top.rung.width, top.rung.height) == (1920, 1080)
    assert comb(native_crop(top.path)) < 0.25 * comb(native_crop(Path(tff.original.path)))


def test_vfr_film_keeps_its_cadence_and_fills_gaps(corpus_run):
    out = corpus_run("vfr_film")
    assert out.original.is_vfr
    assert {r.fps for r in out.rungs} == {Fraction(24000, 1001)}, "no resampling to 30"
    frames = int(streams(out.encoded.renditions[0].path, "v:0")[0]["nb_frames"])
    assert abs(frames - out.original.duration * 24000 / 1001) <= 2, "dropped frames filled by repeats"


@pytest.mark.parametrize("name,nominal", [("bluray_offset_m2ts", 0.4), ("editlist_mp4", 0.5)])
def test_start_offsets_keep_audio_and_video_in_step(corpus_run, name, nominal):
    """Outputs start at 0, the beep stays where it was, and the flash comes as long after the beep as in the
    master (within one frame)."""
    out = corpus_run(name)
    top = out.encoded.renditions[-1]
    flash, beep = flash_minus_beep(top.path, top.rung.fps, out.encoded.audio)
    in_master = master_flash_minus_beep(Path(out.original.path))
    assert abs(in_master - nominal) < 0.1, in_master
    assert abs(beep - FLASH_AT) < 0.05, "the audio starts at 0: the beep stays at 1.0 s"
    assert abs((flash - beep) - in_master) <= 1 / float(top.rung.fps) + 1e-3, (flash, beep, in_master)
    if name == "bluray_offset_m2ts":
        assert out.original.start_time > 4200 and out.original.audio_channels == 6


def test_default_audio_track_is_the_main_rendition(corpus_run):
    out = corpus_run("multi_audio")
    assert [t["language"] for t in out.source.audio_tracks] == ["eng", "fra"]
    x = pcm(out.encoded.audio)[4800:48000]
    freq = np.argmax(np.abs(np.fft.rfft(x))) * 48000 / len(x)
    assert abs(freq - 880) < 5, freq


def test_other_audio_tracks_are_alternate_languages(corpus_run):
    """The non-default track is published as an alternate language of the same HLS group / DASH period."""
    import m3u8

    out = corpus_run("multi_audio")
    (alt,) = out.encoded.alternates
    assert (alt.name, alt.language) == ("audio_fra", "fra")
    x = pcm(alt.path)[4800:48000]
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) * 48000 / len(x) - 440) < 5
    master = m3u8.load(str(out.packaged.path(out.packaged.master_playlist)))
    audio = {m.uri.split("/")[0]: m for m in master.media if m.type == "AUDIO"}
    assert set(audio) == {"audio", "audio_fra"} and {m.group_id for m in audio.values()} == {"audio"}
    assert (audio["audio"].language, audio["audio"].default) == ("en", "YES")
    assert (audio["audio_fra"].language, audio["audio_fra"].default, audio["audio_fra"].autoselect) == \
        ("fr", "NO", "YES")
    peak = max(out.packaged.audio.peak, out.packaged.alternate_audio["audio_fra"].peak)
    for pl in master.playlists:
        v = out.packaged.variants[pl.uri.split("/")[0]]
        assert pl.stream_info.bandwidth == v.video.peak + peak, "BANDWIDTH counts the largest audio rendition"
    mpd = out.packaged.path(out.packaged.mpd).read_text()
    assert 'contentType="audio" lang="en"' in mpd and 'contentType="audio" lang="fr"' in mpd


def test_surround_is_downmixed_to_stereo(corpus_run):
    out = corpus_run("surround_51")
    assert out.source.audio_channels == 6
    (a,) = streams(out.encoded.audio, "a:0")
    assert a["channels"] == 2 and np.abs(pcm(out.encoded.audio)).max() > 1000


def test_alpha_is_flattened_onto_black(corpus_run):
    out = corpus_run("alpha")
    y = luma_frames(out.encoded.renditions[-1].path, 64, 36).astype(float)
    assert y[:, :, 4:28].mean() < 20 and y[:, :, 36:60].mean() > 40


def test_posters_are_flattened(corpus_run):
    alpha = corpus_run("alpha")
    y = luma_frames(alpha.work / "package" / "thumbs" / "poster_640.jpg", 64, 36).astype(float)
    assert y[:, :, 4:28].mean() < 20 and y[:, :, 36:60].mean() > 40


def test_full_range_comes_out_limited(corpus_run):
    out = corpus_run("full_range")
    assert out.source.color_range == "pc"
    y = luma_frames(out.encoded.renditions[-1].path)
    assert y.min() >= 14 and y.max() <= 237


def test_single_keyframe_open_gop_is_rekeyframed(corpus_run):
    out = corpus_run("open_gop_one_keyframe")
    top = out.encoded.renditions[-1]
    keys = keyframe_times(top.path)
    assert [round(k, 2) for k in keys] == [0.0, 2.0]


@pytest.mark.parametrize("name", ["av1", "vp9"])
def test_av1_and_vp9_masters_are_decoded(corpus_run, name):
    out = corpus_run(name)
    assert out.original.video_codec == name
    assert out.source.video_codec == ("h264" if name == "av1" else "vp9"), "AV1 via the lossless mezzanine"
