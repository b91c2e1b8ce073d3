"""Helpers shared by the media tests: make synthetic masters with ffmpeg lavfi.

(A uniquely named module rather than ``conftest`` imports, so nothing clashes with other
test folders under pytest's default import mode.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vodflow.media import EncodeOptions
from vodflow.media.tools import ffmpeg_bin, run_tool

SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared/data/videos"
THREADS = 2
FAST = EncodeOptions(preset="veryfast", threads=THREADS)


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; raise MediaToolError with its stderr on failure."""
    run_tool([ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y", *args], timeout=120)


def lavfi(size: str = "640x360", rate: str = "30", duration: float = 2.0, audio: bool = True) -> list[str]:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"]
    return args


def assert_plain(err) -> None:
    """An uploader-facing reason: one sentence, says what to send, no tool output, path or exception."""
    r = err.reason
    assert r and r[0].isupper() and r.endswith(".") and "\n" not in r, r
    assert r.count(". ") == 0, f"more than one sentence: {r}"
    assert any(w in r for w in ("send", "upload", "re-export", "split")), f"no fix named: {r}"
    for bad in ("/", "ffmpeg", "ffprobe", "Error", "Traceback", "@ 0x", "[error]", "Last message"):
        assert bad not in r.replace("(.ts/.mts/.m2ts)", "").replace("H.264", ""), f"{bad!r} in {r}"
    assert err.code and err.code.replace("_", "").isalpha()


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-threads", str(THREADS)]
AAC = ["-c:a", "aac", "-b:a", "96k"]


def _make_rot90(out: Path, tmp: Path) -> None:
    base = tmp / "rot_base.mp4"
    ffmpeg(*lavfi("640x360", "30"), *X264, *AAC, str(base))
    ffmpeg("-display_rotation:v:0", "90", "-i", str(base), "-c", "copy", str(out))


RECIPES: dict[str, tuple[str, Callable[[Path, Path], None]]] = {
    # name: (file suffix, maker(out, tmpdir))
    "rot90": (".mp4", _make_rot90),
    "odd": (".mp4", lambda o, t: ffmpeg(*lavfi("642x362", "25"), "-vf", "format=yuv444p,crop=641:361:0:0",
                                        *X264, *AAC, str(o))),
    "sar": (".mp4", lambda o, t: ffmpeg(*lavfi("720x480", "30000/1001"), "-vf", "setsar=32/27",
                                        *X264, *AAC, str(o))),
    "vfr": (".mp4", lambda o, t: ffmpeg(*lavfi("640x360", "30"),
                                        "-vf", r"select='not(eq(mod(n\,5)\,1)+eq(mod(n\,7)\,3))'",
                                        "-fps_mode", "vfr", *X264, *AAC, str(o))),
    "tenbit": (".mp4", lambda o, t: ffmpeg(*lavfi("640x360", "25"), *X264, "-pix_fmt", "yuv420p10le",
                                           *AAC, str(o))),
    "noaudio": (".mp4", lambda o, t: ffmpeg(*lavfi("640x360", "25", audio=False), *X264, str(o))),
    "hevc": (".mp4", lambda o, t: ffmpeg(*lavfi("640x360", "25"), "-c:v", "libx265", "-preset", "ultrafast",
                                         "-x265-params", "log-level=error:pools=2", "-tag:v", "hvc1",
                                         *AAC, str(o))),
    "offset": (".ts", lambda o, t: ffmpeg(*lavfi("640x360", "30"), *X264, *AAC, "-output_ts_offset", "3",
                                          "-f", "mpegts", str(o))),
    "webm": (".webm", lambda o, t: ffmpeg(*lavfi("480x270", "24"), "-c:v", "libvpx-vp9", "-deadline",
                                          "realtime", "-cpu-used", "8", "-b:v", "300k", "-threads", "2",
                                          "-c:a", "libopus", str(o))),
    # extreme VFR: bursts of frames 1.1 ms apart with B-frames; the decode check's null muxer prints
    # "non monotonically increasing dts" and "Last message repeated 8 times" (rejected before issue 15)
    "vfr_bursts": (".mp4", lambda o, t: ffmpeg(
        *lavfi("640x360", "60", duration=3.0),
        "-vf", "setpts='if(lt(mod(N,20),10),N/60,(floor(N/20)*20+10)/60+(mod(N,20)-10)*0.0011)/TB'",
        "-fps_mode", "passthrough", *X264, "-bf", "3", "-video_track_timescale", "90000", *AAC, str(o))),
    "mov": (".mov", lambda o, t: ffmpeg(*lavfi("640x360", "24"), *X264, *AAC, str(o))),
    "mkv": (".mkv", lambda o, t: ffmpeg(*lavfi("640x360", "25"), *X264, *AAC, str(o))),
    "p60": (".mp4", lambda o, t: ffmpeg(*lavfi("1280x720", "60", duration=4.0), *X264, *AAC, str(o))),
    "blackstart": (".mp4", lambda o, t: ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=640x360:rate=25:duration=1.5",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2.5",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", *X264, str(o))),
}


