"""Measurements of encoded/packaged output, for tests, the benchmark and DAG sanity checks.

Nothing here changes files. Bitrates are measured from segment byte sizes and the EXTINF
durations of a media playlist (parsed with ``m3u8``); keyframes and durations come from ffprobe;
quality from ffmpeg's ``psnr``/``ssim`` filters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import m3u8

from vodflow.media.tools import ffmpeg_bin, ffprobe_bin, run_tool


@dataclass(frozen=True)
class SegmentStat:
    uri: str
    bytes: int
    duration: float

    @property
    def bitrate(self) -> float:
        return self.bytes * 8 / self.duration if self.duration > 0 else 0.0


@dataclass(frozen=True)
class BitrateStats:
    """Measured bitrates of one media playlist, in integer bits/s (init segment excluded).

    ``peak`` = max over segments of bytes*8/duration; ``average`` = total bits / total duration.
    """

    peak: int
    average: int
    segments: int
    duration: float
    total_bytes: int

    @classmethod
    def from_segments(cls, segs: Sequence[SegmentStat]) -> "BitrateStats":
        total_b = sum(s.bytes for s in segs)
        total_d = sum(s.duration for s in segs)
        peak = max((s.bitrate for s in segs), default=0.0)
        avg = total_b * 8 / total_d if total_d > 0 else 0.0
        return cls(int(round(peak)), int(round(avg)), len(segs), total_d, total_b)


def playlist_segments(playlist_path: str | Path) -> list[SegmentStat]:
    """Segments of a media playlist with their byte sizes (byte ranges honoured)."""
    path = Path(playlist_path)
    pl = m3u8.load(str(path))
    out = []
    for seg in pl.segments:
        if seg.byterange:
            size = int(str(seg.byterange).split("@")[0])
        else:
            size = (path.parent / seg.uri).stat().st_size
        out.append(SegmentStat(seg.uri, size, float(seg.duration)))
    return out


def measure_playlist_bitrates(playlist_path: str | Path) -> BitrateStats:
    """Peak and average bitrate of a media (or I-frame) playlist from its segments."""
    return BitrateStats.from_segments(playlist_segments(playlist_path))


# -- ffprobe helpers ---------------------------------------------------------------------------------

def _probe_json(argv: list[str]) -> dict:
    res = run_tool([ffprobe_bin(), "-v", "error", "-of", "json", *argv], timeout=600)
    return json.loads(res.stdout or "{}")


def keyframe_times(path: str | Path, stream: str = "v:0") -> list[float]:
    """Presentation times (s) of the key-frame packets (flags contain ``K``) of a video file."""
    data = _probe_json(["-select_streams", stream, "-show_entries", "packet=pts_time,flags", str(path)])
    return sorted(float(p["pts_time"]) for p in data.get("packets", [])
                  if "K" in p.get("flags", "") and p.get("pts_time") not in (None, "N/A"))


def packet_times(path: str | Path, stream: str = "v:0") -> list[float]:
    data = _probe_json(["-select_streams", stream, "-show_entries", "packet=pts_time", str(path)])
    return sorted(float(p["pts_time"]) for p in data.get("packets", []) if p.get("pts_time") not in (None, "N/A"))


@dataclass(frozen=True)
class StreamDuration:
    duration: float
    frames: int
    fps: Fraction | None
    start: float


def video_duration(path: str | Path) -> StreamDuration:
    """Duration of the first video stream: frame count / frame rate, plus its start time.

    Counts packets (``-count_packets``) rather than trusting the header.
    """
    data = _probe_json(["-select_streams", "v:0", "-count_packets", "-show_entries",
                        "stream=nb_read_packets,avg_frame_rate,r_frame_rate,start_time,duration", str(path)])
    s = data["streams"][0]
    frames = int(s.get("nb_read_packets") or 0)
    fps = None
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            f = Fraction(s.get(key, "0/0"))
        except (ValueError, ZeroDivisionError):
            continue
        if f > 0:
            fps = f
            break
    dur = frames / float(fps) if fps else float(s.get("duration") or 0.0)
    return StreamDuration(dur, frames, fps, float(s.get("start_time") or 0.0))


def stream_dimensions(path: str | Path) -> tuple[int, int, str]:
    """(width, height, sample_aspect_ratio) of the first video stream."""
    s = _probe_json(["-select_streams", "v:0", "-show_entries", "stream=width,height,sample_aspect_ratio",
                     str(path)])["streams"][0]
    return int(s["width"]), int(s["height"]), s.get("sample_aspect_ratio", "1:1")


# -- decoding ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentDecode:
    uri: str
    frames: int
    errors: list[str]

    @property
    def ok(self) -> bool:
        return self.frames > 0 and not self.errors


def decode_bytes(data: bytes, *, decryption_key: str | None = None, expect_video: bool = True) -> tuple[int, list[str]]:
    """Decode an in-memory MP4/fMP4 (init + segment) with ffmpeg; return (frames, error lines)."""
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-progress", "pipe:2", "-nostats"]
    if decryption_key:
        argv += ["-decryption_key", decryption_key]
    argv += ["-i", "pipe:0", "-map", "0:v:0" if expect_video else "0:a:0", "-f", "null", "-"]
    res = run_tool(argv, check=False, input_bytes=data, timeout=300)
    frames = 0
    errors = []
    for line in res.stderr.splitlines():
        if line.startswith("frame="):
            frames = int(line.split("=", 1)[1] or 0)
        elif re.match(r"^(fps|stream_\d+_\d+_q|bitrate|total_size|out_time\w*|dup_frames|drop_frames|speed|progress)=",
                      line):
            continue
        elif line.strip():
            errors.append(line.strip())
    if res.returncode != 0 and not errors:
        errors.append(f"ffmpeg exited with {res.returncode}")
    return frames, errors


def decode_segments(playlist_path: str | Path, *, decryption_key: str | None = None,
                    video: bool = True) -> list[SegmentDecode]:
    """Decode every segment of a media playlist on its own (init segment + that segment)."""
    path = Path(playlist_path)
    pl = m3u8.load(str(path))
    out = []
    for seg in pl.segments:
        init_uri = seg.init_section.uri if seg.init_section else None
        init = (path.parent / init_uri).read_bytes() if init_uri else b""
        body = (path.parent / seg.uri).read_bytes()
        frames, errors = decode_bytes(init + body, decryption_key=decryption_key, expect_video=video)
        if not video:  # "frames" counts audio frames here
            frames = frames or (1 if not errors else 0)
        out.append(SegmentDecode(seg.uri, frames, errors))
    return out


# -- quality -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quality:
    psnr: float      # average PSNR (dB), all planes weighted as ffmpeg reports
    ssim: float      # SSIM "All"


def _fps_arg(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def quality_vs_source(source: str | Path, renditions: Sequence[tuple[str | Path, int, int, Fraction]], *,
                      top_fps: Fraction, duration: float | None = None, threads: int | None = None,
                      scale_flags: str = "bicubic") -> list[Quality]:
    """PSNR and SSIM of each rendition against the source prepared the same way (CFR, scaled).

    One ffmpeg pass decodes the source once and compares it with every rendition, each given as
    (path, width, height, fps). The reference for a rung is ``fps(top) -> [fps(rung)] -> scale``
    of the source, i.e. exactly what the encoder was fed.
    """
    n = len(renditions)
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "info", "-nostats"]
    if threads:
        argv += ["-filter_complex_threads", str(threads)]
    t = ["-t", f"{duration:.3f}"] if duration else []
    argv += [*t, *(["-threads", str(threads)] if threads else []), "-i", str(source)]
    for path, *_ in renditions:
        argv += [*(["-threads", str(threads)] if threads else []), "-i", str(path)]
    graph = [f"[0:v:0]fps=fps={_fps_arg(top_fps)}:start_time=0,split={n}" + "".join(f"[src{i}]" for i in range(n))]
    for i, (_, w, h, fps) in enumerate(renditions):
        chain = f"[src{i}]"
        if fps != top_fps:
            chain += f"fps=fps={_fps_arg(fps)},"
        chain += f"scale={w}:{h}:flags={scale_flags},setsar=1,format=yuv420p,settb=AVTB,split[ref{i}a][ref{i}b]"
        graph.append(chain)
        graph.append(f"[{i + 1}:v:0]setpts=PTS-STARTPTS,format=yuv420p,settb=AVTB,split[dis{i}a][dis{i}b]")
        graph.append(f"[dis{i}a][ref{i}a]psnr=shortest=1[p{i}]")
        graph.append(f"[dis{i}b][ref{i}b]ssim=shortest=1[q{i}]")
    argv += ["-filter_complex", ";".join(graph)]
    for i in range(n):
        argv += ["-map", f"[p{i}]", "-f", "null", "-", "-map", f"[q{i}]", "-f", "null", "-"]
    res = run_tool(argv, timeout=None)
    # summary lines are printed at teardown, in no particular order: key them by filter instance,
    # whose numbering follows the graph order above
    psnr_by = {int(i): (float("inf") if v == "inf" else float(v)) for i, v in
               re.findall(r"Parsed_psnr_(\d+) @ [^\]]+\] PSNR .*? average:(inf|[\d.]+)", res.stderr)}
    ssim_by = {int(i): float(v) for i, v in re.findall(r"Parsed_ssim_(\d+) @ [^\]]+\] SSIM .*? All:([\d.]+)", res.stderr)}
    psnrs = [psnr_by[k] for k in sorted(psnr_by)]
    ssims = [ssim_by[k] for k in sorted(ssim_by)]
    if len(psnrs) != n or len(ssims) != n:
        raise RuntimeError(f"could not read PSNR/SSIM for {n} renditions from ffmpeg output:\n{res.stderr[-2000:]}")
    return [Quality(p, s) for p, s in zip(psnrs, ssims)]


__all__ = ["BitrateStats", "Quality", "SegmentDecode", "SegmentStat", "StreamDuration", "decode_bytes",
           "decode_segments", "keyframe_times", "measure_playlist_bitrates", "packet_times",
           "playlist_segments", "quality_vs_source", "stream_dimensions", "video_duration"]
