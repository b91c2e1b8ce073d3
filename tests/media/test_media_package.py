"""Packaging: one full-ladder encode of Big Buck Bunny (looped to 15.8 s), checked many ways."""

from __future__ import annotations

from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from vodflow.media import RawKey, package_files
from vodflow.media.package import AUDIO_DIR
from vodflow.media.verify import (
    decode_segments,
    keyframe_times,
    measure_playlist_bitrates,
    playlist_segments,
    video_duration,
)


def test_files_listed_exist(bbb_ladder):
    pkg = bbb_ladder.packaged
    assert pkg.master_playlist in pkg.files and pkg.mpd in pkg.files
    for rel in pkg.files:
        assert pkg.path(rel).is_file(), rel
    for r in bbb_ladder.rungs:
        for f in ("init.mp4", "index.m3u8", "iframe.m3u8", "seg_00001.m4s", "seg_00003.m4s"):
            assert f"{r.name}/{f}" in pkg.files
    assert f"{AUDIO_DIR}/index.m3u8" in pkg.files


def test_master_playlist(bbb_ladder):
    pkg = bbb_ladder.packaged
    master = m3u8.load(str(pkg.path(pkg.master_playlist)))
    assert master.is_variant
    assert [p.uri.split("/")[0] for p in master.playlists] == [r.name for r in bbb_ladder.rungs]
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert len(audio) == 1 and audio[0].group_id == "audio" and audio[0].default == "YES"
    for p, rung in zip(master.playlists, bbb_ladder.rungs):
        si = p.stream_info
        assert isinstance(si.bandwidth, int) and si.bandwidth > 0
        assert isinstance(si.average_bandwidth, int) and 0 < si.average_bandwidth <= si.bandwidth
        assert si.resolution == (rung.width, rung.height)
        assert si.frame_rate == pytest.approx(float(rung.fps), abs=1e-3)
        assert si.audio == "audio"
        codecs = si.codecs.split(",")
        assert codecs[0].startswith("avc1.64") and codecs[1] == "mp4a.40.2"
        level = int(codecs[0][-2:], 16)
        assert level == int(float(rung.level) * 10)
    assert len(master.iframe_playlists) == len(bbb_ladder.rungs)
    for ip in master.iframe_playlists:
        iframes = m3u8.load(str(pkg.path(ip.uri)))
        assert iframes.is_i_frames_only and len(iframes.segments) >= 3


def test_declared_bandwidth_matches_measured_segments(bbb_ladder):
    pkg = bbb_ladder.packaged
    master = m3u8.load(str(pkg.path(pkg.master_playlist)))
    audio = measure_playlist_bitrates(pkg.path(f"{AUDIO_DIR}/index.m3u8"))
    for p in master.playlists:
        name = p.uri.split("/")[0]
        segs = playlist_segments(pkg.path(p.uri))
        peak = max(s.bytes * 8 / s.duration for s in segs)
        avg = sum(s.bytes for s in segs) * 8 / sum(s.duration for s in segs)
        assert p.stream_info.bandwidth == pytest.approx(peak + audio.peak, rel=0.10), name
        assert p.stream_info.average_bandwidth == pytest.approx(avg + audio.average, rel=0.10), name
        assert pkg.variants[name].video.peak == pytest.approx(peak, abs=1)
    assert pkg.audio is not None and 100_000 < pkg.audio.average < 160_000


def test_video_bitrates_are_near_the_ladder(bbb_ladder):
    for r in bbb_ladder.rungs:
        v = bbb_ladder.packaged.variants[r.name].video
        assert 0.5 * r.video_bitrate < v.average < 1.15 * r.video_bitrate, (r.name, v)
        assert v.peak <= 2.0 * r.video_bitrate, "peak segment stays within Apple's 200 % of average"


def test_segments_are_six_seconds_and_aligned(bbb_ladder):
    pkg = bbb_ladder.packaged
    timelines = set()
    for r in bbb_ladder.rungs:
        segs = playlist_segments(pkg.path(f"{r.name}/index.m3u8"))
        durations = [round(s.duration, 3) for s in segs]
        assert durations[:-1] == [6.0] * (len(segs) - 1)
        timelines.add(tuple(durations))
    assert len(timelines) == 1, "every rung cut at the same instants"


def test_keyframes_align_across_rungs_at_every_segment_boundary(bbb_ladder):
    pkg = bbb_ladder.packaged
    boundaries = None
    kf_sets = []
    for r in bbb_ladder.rungs:
        segs = playlist_segments(pkg.path(f"{r.name}/index.m3u8"))
        starts, t = [], 0.0
        for s in segs:
            starts.append(round(t, 3))
            t += s.duration
        boundaries = boundaries or starts
        assert starts == boundaries
        kf = keyframe_times(next(x.path for x in bbb_ladder.encoded.renditions if x.rung == r))
        kf_sets.append(kf)
        for b in starts:
            assert any(abs(k - b) < 1e-3 for k in kf), f"{r.name}: no IDR at segment start {b}"
    assert all(k == pytest.approx(kf_sets[0], abs=1e-3) for k in kf_sets), "same IDR instants on every rung"
    assert kf_sets[0] == pytest.approx([0, 2, 4, 6, 8, 10, 12, 14], abs=1e-3)


def test_rung_durations_match_the_source(bbb_ladder):
    src = bbb_ladder.info
    assert 15.5 < src.duration < 16.5
    for r in bbb_ladder.encoded.renditions:
        d = video_duration(r.path)
        assert abs(d.duration - src.duration) <= 1 / float(r.rung.fps) + 1e-3, (r.rung.name, d)
        total = sum(s.duration for s in playlist_segments(bbb_ladder.packaged.path(f"{r.rung.name}/index.m3u8")))
        assert abs(total - src.duration) <= 1 / float(r.rung.fps) + 2e-3


def test_every_segment_decodes(bbb_ladder):
    pkg = bbb_ladder.packaged
    for name, pl in pkg.media_playlists.items():
        results = decode_segments(pkg.path(pl), video=name != AUDIO_DIR)
        assert len(results) == 3
        bad = [s for s in results if not s.ok]
        assert not bad, bad
        if name != AUDIO_DIR:
            fps = float(bbb_ladder.rungs[0].fps)
            assert [s.frames for s in results][:2] == [150, 150] and sum(s.frames for s in results) == round(
                bbb_ladder.info.duration * fps)


def test_dash_manifest(bbb_ladder):
    pkg = bbb_ladder.packaged
    mpd = MPEGDASHParser.parse(str(pkg.path(pkg.mpd)))
    assert mpd.type == "static"
    sets = {a.content_type: a for a in mpd.periods[0].adaptation_sets}
    video, audio = sets["video"], sets["audio"]
    reps = video.representations
    assert [(r.width, r.height) for r in reps] == [(x.width, x.height) for x in bbb_ladder.rungs]
    timelines = set()
    for rep in reps:
        tmpl = rep.segment_templates[0]
        assert tmpl.media.endswith("seg_$Number%05d$.m4s")
        assert (pkg.out_dir / tmpl.initialization).is_file()
        timelines.add(tuple((s.t, s.d, s.r) for s in tmpl.segment_timelines[0].Ss))
        assert rep.codecs.startswith("avc1.64")
    assert len(timelines) == 1, "DASH segments aligned across representations"
    assert audio.representations[0].codecs == "mp4a.40.2"


def test_encrypted_package_has_pssh_tenc_and_decodes_with_the_key(bbb_ladder, tmp_path):
    key = RawKey(key_id="0123456789abcdef0123456789abcdef", key="00112233445566778899aabbccddeeff")
    low = bbb_ladder.encoded.renditions[0]
    pkg = package_files({low.rung.name: low.path}, bbb_ladder.encoded.audio, tmp_path, encryption=key)
    assert pkg.encrypted
    for init in (f"{low.rung.name}/init.mp4", f"{AUDIO_DIR}/init.mp4"):
        data = pkg.path(init).read_bytes()
        assert b"pssh" in data and b"tenc" in data and bytes.fromhex(key.key_id) in data, init
    mpd_text = pkg.path(pkg.mpd).read_text()
    assert 'cenc:default_KID="01234567-89ab-cdef-0123-456789abcdef"' in mpd_text
    ok = decode_segments(pkg.path(f"{low.rung.name}/index.m3u8"), decryption_key=key.key)
    assert [s.frames for s in ok][:2] == [150, 150] and all(s.ok for s in ok), ok
    assert all(s.ok for s in decode_segments(pkg.path(f"{AUDIO_DIR}/index.m3u8"), decryption_key=key.key,
                                             video=False))
    # clear_lead 0: without the key the very first segment is already garbage
    clear = decode_segments(pkg.path(f"{low.rung.name}/index.m3u8"))
    assert clear[0].errors


def test_raw_key_validation():
    with pytest.raises(ValueError, match="32 hex digits"):
        RawKey("abc", "00112233445566778899aabbccddeeff")


def test_package_errors_name_the_cause(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        package_files({"360p": tmp_path / "missing.mp4"}, None, tmp_path / "out")
    with pytest.raises(ValueError, match="no video"):
        package_files({}, None, tmp_path / "out")
    Path(tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="safe directory name"):
        package_files({"../evil": tmp_path / "x.mp4"}, None, tmp_path / "out")
