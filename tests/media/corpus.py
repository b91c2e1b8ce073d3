"""A corpus of odd real-world masters, generated reproducibly with the packaging ffmpeg from lavfi sources.

Each :class:`Master` has a class (what real-world shape it stands for), a file name (the suffix matters:
``.mts``/``.m2ts`` camcorder and Blu-ray names) and the expected outcome: ``"ready"`` or
``"rejected:<code>"``. Used by tests/media/test_media_masters.py and bench/masters.py
(``make_master(m, dir)`` writes one; 1-3 s each, at most 1920x1080, so the whole corpus takes seconds).

Licence: every picture and sound is synthesised by ffmpeg's lavfi sources (testsrc2, color, sine,
aevalsrc): no third-party media, nothing to attribute.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediakit import AAC, RECIPES, X264, ffmpeg, lavfi
from vodflow.media.tools import ffmpeg_bin, ffprobe_bin, run_tool

#: Sync pattern: a white flash and a 1 kHz beep, both at t = 1.0 s of the source's own timeline.
FLASH_AT = 1.0


def flash_beep(size: str, rate: str, duration: float = 2.5) -> list[str]:
    """lavfi inputs: black picture with a white frame burst at 1.0-1.2 s; silence with a beep at 1.0-1.2 s."""
    return ["-f", "lavfi", "-i", f"color=c=black:size={size}:rate={rate}:duration={duration},"
            f"drawbox=color=white:t=fill:enable='between(t,{FLASH_AT},{FLASH_AT + 0.2})'",
            "-f", "lavfi", "-i", f"aevalsrc='if(between(t,{FLASH_AT},{FLASH_AT + 0.2}),0.5*sin(2*PI*1000*t),0)'"
            f":s=48000:d={duration}"]


X265 = ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1"]


def _x265_hdr(transfer: str) -> list[str]:
    extra = ":hdr10=1:max-cll=1000,400:master-display=G(13250,34500)B(7500,3000)R(34000,16000)" \
            "WP(15635,16450)L(10000000,1)" if transfer == "smpte2084" else ""
    return [*X265, "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
            "-x265-params", f"log-level=error:pools=2:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
            + extra]


def _multi_audio(o: Path, t: Path) -> None:
    ffmpeg(*lavfi("640x360", "25", audio=False),
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000:duration=2",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", *X264, "-c:a", "aac",
           "-metadata:s:a:0", "language=fra", "-metadata:s:a:1", "language=eng",
           "-disposition:a:0", "0", "-disposition:a:1", "default", str(o))


def _bluray(o: Path, t: Path) -> None:
    """H.264 + AC-3 5.1 MPEG-TS, clock at 4,200 s, audio starting 0.4 s before the video."""
    ffmpeg(*flash_beep("640x360", "30000/1001"), "-filter_complex",
           "[0:v]setpts=PTS+0.4/TB[v];[1:a]pan=5.1|c0=c0|c1=c0|c2=c0|c3=0*c0|c4=c0|c5=c0[a]",
           "-map", "[v]", "-map", "[a]", *X264, "-c:a", "ac3", "-output_ts_offset", "4200", "-f", "mpegts", str(o))


def _editlist(o: Path, t: Path) -> None:
    """MP4 whose video track starts 0.5 s late through an edit list (the audio starts at 0)."""
    base = t / "editlist_base.mp4"
    ffmpeg(*flash_beep("640x360", "25"), "-map", "0:v", "-map", "1:a", *X264, *AAC, str(base))
    ffmpeg("-itsoffset", "0.5", "-i", str(base), "-i", str(base), "-map", "0:v", "-map", "1:a", "-c", "copy",
           str(o))


def _alpha(o: Path, t: Path) -> None:
    """FFV1 yuva420p: the left half fully transparent, the right half opaque."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2", "-vf",
           "format=yuva420p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='if(lt(X,W/2),0,255)'",
           "-c:v", "ffv1", str(o))


def _truncated(o: Path, t: Path) -> None:
    full = t / "truncated_full.mp4"
    ffmpeg(*lavfi("320x180", "25", duration=8.0), *X264, *AAC, "-movflags", "+faststart", str(full))
    data = full.read_bytes()
    o.write_bytes(data[: len(data) // 2])


def _audio_only(o: Path, t: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", *AAC, str(o))


@dataclass(frozen=True)
class Master:
    name: str
    cls: str                     # the real-world class it stands for
    suffix: str
    make: Callable[[Path, Path], None]
    expected: str                # "ready" or "rejected:<code>"
    note: str = ""


MASTERS: tuple[Master, ...] = (
    Master("vfr_film", "VFR", ".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "24000/1001", duration=3.0),
        "-vf", r"select='not(eq(mod(n\,5)\,1)+eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", *X264, *AAC, str(o)),
        "ready", "23.976 film dropping about a third of its frames: stays 23.976, gaps filled"),
    Master("vfr_extreme", "VFR", ".mp4", lambda o, t: ffmpeg(
        *lavfi("1280x720", "60"), "-vf", r"select='lt(mod(n\,30)\,10)+eq(mod(n\,12)\,0)'", "-fps_mode", "vfr",
        *X264, "-bf", "2", *AAC, str(o)),
        "ready", "screen-recorder bursts at 60 fps then 200 ms gaps; the decode check's muxer warns"),
    Master("vfr_timestamp_bursts", "VFR", ".mp4", RECIPES["vfr_bursts"][1], "ready",
           "bursts of frames 1.1 ms apart: the decode check's null muxer prints 'non monotonically increasing "
           "dts' + 'Last message repeated 8 times' (the issue's rejected master)"),
    Master("interlaced_tff_mts", "interlaced", ".mts", lambda o, t: ffmpeg(
        *lavfi("1920x1080", "50", duration=1.5), "-vf", "interlace=scan=tff", *X264, "-flags", "+ildct+ilme",
        "-x264-params", "tff=1", "-c:a", "ac3", "-f", "mpegts", str(o)),
        "ready", "camcorder 1080i50 H.264 PAFF/MBAFF + AC-3 in .mts: bwdif to 50p"),
    Master("interlaced_bff_mpeg2", "interlaced", ".mpg", lambda o, t: ffmpeg(
        *lavfi("720x480", "60000/1001"), "-vf", "interlace=scan=bff,setfield=bff", "-c:v", "mpeg2video",
        "-b:v", "4M", "-flags", "+ildct+ilme", "-top", "0", "-c:a", "mp2", "-f", "vob", str(o)),
        "ready", "DVD-style 480i59.94 MPEG-2 bottom field first"),
    Master("interlaced_idet_avi", "interlaced", ".avi", lambda o, t: ffmpeg(
        *lavfi("720x576", "50"), "-vf", "interlace=scan=tff", "-c:v", "mpeg4", "-q:v", "3", "-c:a", "libmp3lame",
        str(o)),
        "ready", "woven 576i fields in MPEG-4 Part 2 with no field flags: found by idet"),
    Master("hdr10_pq", "HDR", ".mp4", lambda o, t: ffmpeg(
        *lavfi("1280x720", "25"), *_x265_hdr("smpte2084"), *AAC, str(o)),
        "ready", "HEVC Main10 BT.2020 PQ with mastering metadata: tone-mapped to SDR BT.709"),
    Master("hlg", "HDR", ".mov", lambda o, t: ffmpeg(
        *lavfi("1280x720", "30"), *_x265_hdr("arib-std-b67"), *AAC, str(o)),
        "ready", "iPhone-style HEVC HLG: tone-mapped to SDR BT.709"),
    Master("surround_51", "5.1 audio", ".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "25"), "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", *X264, *AAC, str(o)),
        "ready", "AAC 5.1: downmixed to the stereo AAC rendition"),
    Master("multi_audio", "multi-audio", ".mkv", _multi_audio,
           "ready", "fra (440 Hz, first) + eng (880 Hz, default): the default track is the main rendition"),
    Master("bluray_offset_m2ts", "start offset", ".m2ts", _bluray,
           "ready", "H.264 + AC-3 5.1 TS, clock at 4,200 s, audio 0.4 s ahead of video, named .m2ts"),
    Master("ts_one_keyframe", "start offset", ".ts", lambda o, t: ffmpeg(
        *lavfi("320x180", "25", duration=7.0), *X264, "-g", "1000", "-c:a", "ac3", "-f", "mpegts", str(o)),
        "ready", "7 s TS with a single IDR: seeks into it decode nothing (no index) - remuxed, decode check "
        "falls back to decoding from the start"),
    Master("editlist_mp4", "edit list", ".mp4", _editlist,
           "ready", "video track delayed 0.5 s by an edit list"),
    Master("rotation", "rotation", ".mp4", RECIPES["rot90"][1], "ready", "phone portrait: display matrix 90"),
    Master("anamorphic", "anamorphic SAR", ".mp4", RECIPES["sar"][1], "ready", "NTSC 16:9 anamorphic, SAR 32:27"),
    Master("odd_size", "odd size", ".mp4", RECIPES["odd"][1], "ready", "641x361 4:4:4"),
    Master("tiny", "extreme size", ".mp4", lambda o, t: ffmpeg(*lavfi("96x54", "25"), *X264, *AAC, str(o)),
           "ready", "96x54: one native rung"),
    Master("extreme_wide", "extreme size", ".mp4", lambda o, t: ffmpeg(
        *lavfi("4200x240", "25", duration=1.0), *X264, *AAC, str(o)),
        "rejected:too_large", "4200x240 is over the 4096 px long side"),
    Master("full_range", "full range", ".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "25"), "-vf", "format=yuvj420p", *X264, "-color_range", "pc", *AAC, str(o)),
        "ready", "full-range (pc) H.264 from a webcam: limited range out"),
    Master("no_audio", "no audio", ".mp4", RECIPES["noaudio"][1], "ready", "video only"),
    Master("audio_only", "audio only", ".m4a", _audio_only, "rejected:audio_only", "AAC only, no picture"),
    Master("alpha", "alpha", ".mkv", _alpha, "ready", "FFV1 yuva420p, left half transparent: flattened onto black"),
    Master("open_gop_one_keyframe", "single keyframe / open GOP", ".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "25", duration=3.0), *X264, "-g", "1000", "-keyint_min", "1000", "-sc_threshold", "0",
        "-x264-params", "open-gop=1", *AAC, str(o)),
        "ready", "one keyframe in 3 s, open GOP: re-keyframed every 2 s"),
    Master("av1", "AV1", ".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "25"), "-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "lp=2", *AAC, str(o)),
        "ready", "AV1 (SVT-AV1) + AAC: decoded by imageio-ffmpeg's libdav1d into the mezzanine"),
    Master("vp9", "VP9", ".webm", lambda o, t: ffmpeg(
        *lavfi("640x360", "25"), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "400k",
        "-threads", "2", "-c:a", "libopus", str(o)),
        "ready", "VP9 + Opus WebM"),
    Master("truncated", "truncated", ".mp4", _truncated, "rejected:truncated", "an 8 s upload cut in half"),
)


def by_name(name: str) -> Master:
    return next(m for m in MASTERS if m.name == name)


def make_master(m: Master, root: Path) -> Path:
    """Write master ``m`` into ``root`` (once) and return its path."""
    out = root / f"{m.name}{m.suffix}"
    if not out.exists():
        tmp = root / f"{m.name}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        m.make(out, tmp)
    return out


@dataclass
class Outcome:
    """What the pipeline made of one master."""

    outcome: str                  # "ready" or "rejected:<code>" or "error:<ExceptionName>"
    reason: str = ""
    source: object = None         # SourceInfo of what was encoded (the mezzanine when one was made)
    original: object = None       # SourceInfo of the upload itself
    rungs: list = None            # type: ignore[assignment]
    encoded: object = None
    packaged: object = None
    work: Path | None = None


def run_pipeline(path: Path, work: Path, options=None, *, package_it: bool = True) -> Outcome:
    """The ingest pipeline's media steps, as the DAG runs them, on one local master.

    mezzanine (AV1/HDR) -> validate_source -> plan_ladder -> encode_ladder -> package -> posters -> storyboard.
    """
    from vodflow.media import (InvalidSourceError, encode_ladder, make_posters, make_storyboard, package,
                               plan_ladder, probe, validate_source)
    from vodflow.media.mezzanine import decodable_master

    from mediakit import FAST

    work.mkdir(parents=True, exist_ok=True)
    try:
        original = probe(path)
    except InvalidSourceError as e:
        return Outcome(f"rejected:{e.code}", e.reason, work=work)
    try:
        local = decodable_master(path, work)
        info = validate_source(local)
    except InvalidSourceError as e:
        return Outcome(f"rejected:{e.code}", e.reason, original=original, work=work)
    rungs = plan_ladder(info)
    enc = encode_ladder(info, rungs, work / "renditions", options=options or FAST)
    pkg = package(enc, work / "package") if package_it else None
    make_posters(info, work / "package" / "thumbs")
    make_storyboard(enc.renditions[0].path, work / "package" / "thumbs")
    return Outcome("ready", "", info, original, rungs, enc, pkg, work)


#: The top rung's frame rate each master must come out at (its own cadence; field rate when interlaced;
#: halved when the top rung is <= 540 lines: the 360p timestamp-burst master's 60 becomes 30).
EXPECTED_TOP_RATE = {"vfr_film": "24000/1001", "vfr_extreme": "60/1", "vfr_timestamp_bursts": "30/1",
                     "interlaced_tff_mts": "50/1", "interlaced_bff_mpeg2": "30000/1001", "interlaced_idet_avi": "25/1"}


def output_problems(name: str, out: Outcome) -> list[str]:
    """ffprobe checks of a ready master's renditions: SDR colour tags, progressive, rate, stereo audio."""
    import json as _json

    from vodflow.media.tools import ffprobe_bin, run_tool

    def first(path, sel: str) -> dict:
        return _json.loads(run_tool([ffprobe_bin(), "-v", "error", "-select_streams", sel, "-show_streams", "-of",
                                     "json", str(path)]).stdout)["streams"][0]

    # read from the master itself, so that the check also judges a checkout whose SourceInfo lacks colour fields
    master_hdr = first(out.original.path, "v:0").get("color_transfer") in ("smpte2084", "arib-std-b67")
    problems = []
    for r in out.encoded.renditions:
        s = first(r.path, "v:0")
        if s.get("color_transfer") in ("smpte2084", "arib-std-b67") or s.get("color_primaries") == "bt2020":
            problems.append(f"{r.rung.name}: HDR/BT.2020 tags on an 8-bit H.264 rung")
        if s.get("field_order", "progressive") != "progressive":
            problems.append(f"{r.rung.name}: field_order {s.get('field_order')}")
        if master_hdr and s.get("color_transfer") != "bt709":
            problems.append(f"{r.rung.name}: HDR master not tone-mapped to BT.709")
    top = out.encoded.renditions[-1]
    rate = first(top.path, "v:0")["avg_frame_rate"]
    if name in EXPECTED_TOP_RATE and rate != EXPECTED_TOP_RATE[name]:
        problems.append(f"{top.rung.name}: {rate} fps, expected the source's cadence {EXPECTED_TOP_RATE[name]}")
    if out.encoded.audio:
        a = first(out.encoded.audio, "a:0")
        if a.get("channels") != 2:
            problems.append(f"audio has {a.get('channels')} channels, expected stereo")
    check = MASTER_CHECKS.get(name)
    return problems + (check(out) if check else [])


def _check_combing(out: Outcome) -> list[str]:
    top = out.encoded.renditions[-1]
    ratio = comb(native_crop(top.path)) / max(1e-6, comb(native_crop(Path(out.original.path))))
    return [f"{top.rung.name}: woven fields (combing {ratio:.2f} of the master's)"] if ratio > 0.5 else []


def _check_av_step(out: Outcome) -> list[str]:
    top = out.encoded.renditions[-1]
    flash, beep = flash_minus_beep(top.path, top.rung.fps, out.encoded.audio)
    want = master_flash_minus_beep(Path(out.original.path))
    frame = 1 / float(top.rung.fps)
    return [] if abs((flash - beep) - want) <= frame + 1e-3 else [
        f"A/V: flash {flash - beep:+.3f} s after the beep, {want:+.3f} s in the master"]


def _check_default_track(out: Outcome) -> list[str]:
    hz = dominant_hz(out.encoded.audio)
    return [] if abs(hz - 880) < 5 else [f"main audio is the {hz:.0f} Hz track, not the default (880 Hz) one"]


def _check_alpha(out: Outcome) -> list[str]:
    y = luma_frames(out.encoded.renditions[-1].path, 64, 36).astype(float)
    return [] if y[:, :, 4:28].mean() < 20 else [f"transparent half not black (mean luma {y[:, :, 4:28].mean():.0f})"]


#: Master-specific output checks (decoded pictures and sound), on top of the ffprobe ones.
MASTER_CHECKS: dict[str, Callable[[Outcome], list[str]]] = {
    "interlaced_tff_mts": _check_combing, "interlaced_bff_mpeg2": _check_combing,
    "interlaced_idet_avi": _check_combing, "bluray_offset_m2ts": _check_av_step, "editlist_mp4": _check_av_step,
    "multi_audio": _check_default_track, "alpha": _check_alpha,
}


# -- measurements shared by the tests and the bench --------------------------------------------------

def _raw(argv: list[str]) -> bytes:
    import subprocess

    return subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout


def luma_frames(path: Path, w: int = 32, h: int = 18) -> np.ndarray:
    data = _raw([ffmpeg_bin(), "-v", "error", "-i", str(path), "-vf", f"scale={w}:{h},format=gray",
                 "-f", "rawvideo", "-"])
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, h, w)


def native_crop(path: Path, w: int = 480, h: int = 270) -> np.ndarray:
    """Luma of a centre crop at full resolution (field structure intact), every frame."""
    data = _raw([ffmpeg_bin(), "-v", "error", "-i", str(path), "-vf", f"crop={w}:{h},format=gray",
                 "-f", "rawvideo", "-"])
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, h, w)


def pcm(path: Path) -> np.ndarray:
    data = _raw([ffmpeg_bin(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
    return np.frombuffer(data, dtype=np.int16).astype(np.float64)


def comb(y: np.ndarray) -> float:
    """Mean line-to-line zigzag: how far each line is from the mean of its neighbours (combing shows up)."""
    y = y.astype(float)
    return float(np.abs(y[:, 1:-1] - (y[:, :-2] + y[:, 2:]) / 2).mean())


def master_flash_minus_beep(path: Path) -> float:
    """Seconds from the beep to the flash in the master itself, on its own clock (stream start times kept)."""
    fmt = json.loads(run_tool([ffprobe_bin(), "-v", "error", "-show_entries", "format=start_time:stream=codec_type,"
                               "start_time", "-of", "json", str(path)]).stdout)
    a_start = next(float(s["start_time"]) for s in fmt["streams"] if s["codec_type"] == "audio")
    out = run_tool([ffprobe_bin(), "-v", "error", "-f", "lavfi", f"movie={path},signalstats", "-show_entries",
                    "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0"]).stdout
    flash = next(float(t) for t, y in (ln.split(",")[:2] for ln in out.splitlines() if ln) if float(y) > 128)
    beep = a_start + int(np.argmax(np.abs(pcm(path)) > 3000)) / 48000
    return flash - beep


def flash_minus_beep(video: Path, fps, audio: Path) -> tuple[float, float]:
    """(flash time, beep time) in a CFR rendition starting at 0 and its audio rendition."""
    y = luma_frames(video).reshape(-1, 32 * 18).mean(axis=1)
    flash = int(np.argmax(y > 128)) / float(fps)
    beep = int(np.argmax(np.abs(pcm(audio)) > 3000)) / 48000
    return flash, beep


def dominant_hz(audio: Path) -> float:
    x = pcm(audio)[4800:48000]
    return float(np.argmax(np.abs(np.fft.rfft(x))) * 48000 / len(x))
