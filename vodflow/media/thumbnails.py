"""Poster images and scrub-preview storyboards.

* :func:`make_posters` - one representative frame (around 10 % into the video, skipping black
  or flat frames) written as JPEG at several widths (never wider than the picture).
* :func:`make_storyboard` - a tile every ``interval`` seconds, 160 px wide, laid out on sprite
  sheets (JPEG grids) plus a WebVTT index whose cues point at ``sheet.jpg#xywh=x,y,w,h``.

Both read any video: the master, or (cheaper for the storyboard) the lowest rendition.
Rotation is applied by ffmpeg and non-square pixels are squared by scaling to display size; posters
of interlaced or alpha masters are deinterlaced and flattened like the renditions (conform.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import ffmpeg  # ffmpeg-python
import numpy as np

from vodflow.media.conform import conform
from vodflow.media.probe import SourceInfo, probe
from vodflow.media.tools import ffmpeg_bin, run_tool

POSTER_WIDTHS = (1280, 640, 320)
POSTER_POSITIONS = (0.10, 0.15, 0.20, 0.05, 0.25, 0.30, 0.40, 0.50, 0.60)
BLACK_MEAN = 32.0     # mean luma (0-255 gray) at or under which a frame counts as black
FLAT_STD = 8.0        # luma standard deviation under which a frame counts as flat (fades, slates)


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def _gray_stats(path: str, t: float) -> tuple[float, float]:
    """Mean and standard deviation of luma of the frame at ``t`` (64x36 gray thumbnail)."""
    argv = (ffmpeg.input(path, ss=f"{t:.3f}")["v:0"].filter("scale", 64, 36).filter("format", "gray")
            .output("pipe:", format="rawvideo", **{"frames:v": 1})
            .global_args("-nostdin", "-hide_banner", "-v", "error").compile(cmd=ffmpeg_bin()))
    import subprocess

    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    if data.size < 64 * 36:
        return 0.0, 0.0
    return float(data.mean()), float(data.std())


@dataclass(frozen=True)
class Poster:
    width: int
    height: int
    path: Path


@dataclass(frozen=True)
class PosterSet:
    time: float               # seconds into the video of the chosen frame
    luma_mean: float
    luma_std: float
    posters: list[Poster]


def pick_poster_time(info: SourceInfo, positions: Sequence[float] = POSTER_POSITIONS) -> tuple[float, float, float]:
    """First candidate time (fractions of the duration) whose frame is neither black nor flat.

    Falls back to the candidate with the most detail (largest luma deviation) when all fail.
    """
    best: tuple[float, float, float] | None = None
    last = max(0.0, info.duration - 1.5 / max(info.fps, 1.0))
    for frac in positions:
        t = min(last, info.duration * frac)
        mean, std = _gray_stats(info.path, t)
        if mean > BLACK_MEAN and std > FLAT_STD:
            return t, mean, std
        if best is None or std > best[2]:
            best = (t, mean, std)
    assert best is not None
    return best


def make_posters(source: str | Path | SourceInfo, out_dir: str | Path, *,
                 widths: Sequence[int] = POSTER_WIDTHS, quality: int = 3,
                 name: str = "poster_{width}.jpg") -> PosterSet:
    """Write the poster at each width (JPEG, ``-q:v quality``); returns what was written."""
    info = source if isinstance(source, SourceInfo) else probe(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t, mean, std = pick_poster_time(info)
    dw, dh = info.display_width, info.display_height
    cap = dw - dw % 2
    sizes = sorted({min(_even(w), cap) for w in widths}, reverse=True)  # never upscale
    inp = ffmpeg.input(info.path, ss=f"{t:.3f}")
    # deinterlaced and flattened like the renditions: a poster of woven fields shows combs
    base = (conform(inp[f"{info.video_stream_index}"], info, per_field=False)
            .filter("scale", _even(dw), _even(dh)).filter("setsar", "1"))
    branches = base.filter_multi_output("split", len(sizes))
    outputs, posters = [], []
    for i, w in enumerate(sizes):
        w = _even(w)
        h = _even(w * dh / dw)
        path = out / name.format(width=w)
        s = branches.stream(i).filter("scale", w, h, flags="lanczos").filter("format", "yuvj420p")
        outputs.append(ffmpeg.output(s, str(path), **{"frames:v": 1, "q:v": quality, "update": 1}))
        posters.append(Poster(w, h, path))
    argv = (ffmpeg.merge_outputs(*outputs).global_args("-nostdin", "-hide_banner", "-v", "error")
            .compile(cmd=ffmpeg_bin(), overwrite_output=True))
    run_tool(argv, timeout=300)
    return PosterSet(t, mean, std, posters)


# -- storyboard -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Storyboard:
    vtt: Path
    sheets: list[Path]
    interval: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int                 # rows of a full sheet
    tiles: int


def auto_interval(duration: float) -> float:
    """About 100 tiles per title: 1 s for short clips, up to 10 s for long ones."""
    return float(min(10, max(1, round(duration / 100))))


def _ts(t: float) -> str:
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def storyboard_vtt(sheet_names: Sequence[str], tiles: int, interval: float, duration: float,
                   tile_w: int, tile_h: int, columns: int, rows: int) -> str:
    """WebVTT cues ``[k*interval, (k+1)*interval)`` -> ``sheet#xywh=x,y,w,h``."""
    per_sheet = columns * rows
    lines = ["WEBVTT", ""]
    for k in range(tiles):
        sheet, idx = divmod(k, per_sheet)
        r, c = divmod(idx, columns)
        start = k * interval
        end = duration if k == tiles - 1 else min(duration, (k + 1) * interval)  # last cue runs to the end
        if end <= start:
            break
        lines += [f"{_ts(start)} --> {_ts(end)}",
                  f"{sheet_names[sheet]}#xywh={c * tile_w},{r * tile_h},{tile_w},{tile_h}", ""]
    return "\n".join(lines)


def make_storyboard(source: str | Path | SourceInfo, out_dir: str | Path, *, interval: float | None = None,
                    tile_width: int = 160, columns: int = 10, rows: int = 10, quality: int = 4,
                    prefix: str = "storyboard", threads: int | None = None) -> Storyboard:
    """Tiles every ``interval`` s (auto if None) on ``columns`` x ``rows`` sprite sheets + WebVTT."""
    info = source if isinstance(source, SourceInfo) else probe(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = interval or auto_interval(info.duration)
    tw = _even(tile_width)
    th = _even(tw * info.display_height / info.display_width)
    wanted = max(1, math.ceil(info.duration / step - 1e-6))
    in_kwargs = {"threads": threads} if threads else {}
    argv = (ffmpeg.input(info.path, **in_kwargs)["v:0"]
            .filter("fps", fps=f"1/{step:g}", start_time=0, round="down")
            .filter("scale", tw, th, flags="bicubic").filter("setsar", "1").filter("format", "rgb24")
            .output("pipe:", format="rawvideo", **{"frames:v": wanted})
            .global_args("-nostdin", "-hide_banner", "-v", "error").compile(cmd=ffmpeg_bin()))
    import subprocess

    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=3600)
    frame_bytes = tw * th * 3
    n = min(wanted, len(proc.stdout) // frame_bytes)
    if proc.returncode != 0 or n == 0:
        raise RuntimeError(f"storyboard: ffmpeg produced no tiles from {info.path}: "
                           f"{proc.stderr.decode('utf-8', 'replace')[-800:]}")
    tiles = np.frombuffer(proc.stdout[: n * frame_bytes], dtype=np.uint8).reshape(n, th, tw, 3)
    per_sheet = columns * rows
    sheets: list[Path] = []
    for s in range(math.ceil(n / per_sheet)):
        chunk = tiles[s * per_sheet:(s + 1) * per_sheet]
        used_rows = math.ceil(len(chunk) / columns)
        cols = columns if used_rows > 1 else len(chunk)
        canvas = np.zeros((used_rows * th, cols * tw, 3), dtype=np.uint8)
        for i, tile in enumerate(chunk):
            r, c = divmod(i, columns)
            canvas[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tile
        path = out / f"{prefix}_{s + 1:03d}.jpg"
        enc = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{canvas.shape[1]}x{canvas.shape[0]}")
               .output(str(path), **{"frames:v": 1, "q:v": quality, "pix_fmt": "yuvj420p"})
               .global_args("-hide_banner", "-v", "error").compile(cmd=ffmpeg_bin(), overwrite_output=True))
        run_tool(enc, input_bytes=canvas.tobytes(), timeout=120)
        sheets.append(path)
    vtt = out / f"{prefix}.vtt"
    vtt.write_text(storyboard_vtt([p.name for p in sheets], n, step, info.duration, tw, th, columns, rows))
    return Storyboard(vtt, sheets, step, tw, th, columns, rows, n)


__all__ = ["Poster", "PosterSet", "Storyboard", "auto_interval", "make_posters", "make_storyboard",
           "pick_poster_time", "storyboard_vtt"]
