"""Plan the H.264 bitrate ladder for a probed master.

The rows come from Apple's *HLS Authoring Specification for Apple Devices* (H.264/AVC column of
the recommended-variants table, 16:9); see docs/media.md for the table, the citation and every
rule below. The rules, in short:

* fit each row's 16:9 box (turned upright for portrait sources) around the *display* picture:
  rotation and sample aspect ratio are already applied in :class:`SourceInfo`;
* never upscale: rows bigger than the source are dropped, but when the source sits well above
  the largest kept row a "native" rung at the source size is added;
* even dimensions; bitrate scaled by pixel count when the picture is not 16:9;
* frame rate: the source's own cadence - CFR keeps its rate, VFR its cadence (1 / median frame interval,
  see probe.cadence_rate) snapped to a standard rate, dropped frames filled by repeats, never resampled
  to another cadence; interlaced sources count at their field rate (bwdif sends one frame per field);
  the top rungs keep the rate (<= 60), rungs <= 540 lines get it divided by an integer to <= 30
  (60 -> 30, 50 -> 25);
* IDR every ~2 s, the same instants on every rung (keyint in frames, integer multiples);
* constrained VBR: maxrate 1.5x, bufsize 2x the average (peak segment rate stays < 2x, Apple 1.19).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from vodflow.media.probe import SourceInfo


@dataclass(frozen=True)
class LadderRow:
    """One row of a reference ladder: a 16:9 box and its average bitrate."""

    width: int
    height: int
    kbps: int


#: Apple HLS Authoring Specification, recommended variants, H.264/AVC column (16:9).
APPLE_H264_ROWS: tuple[LadderRow, ...] = (
    LadderRow(416, 234, 145),
    LadderRow(640, 360, 365),
    LadderRow(768, 432, 730),
    LadderRow(768, 432, 1100),
    LadderRow(960, 540, 2000),
    LadderRow(1280, 720, 3000),
    LadderRow(1280, 720, 4500),
    LadderRow(1920, 1080, 6000),
    LadderRow(1920, 1080, 7800),
)
#: Apple lists 1440p/2160p for HEVC only (8100 / 11600 / 16800 kb/s). Our H.264 figures are those
#: scaled by Apple's own 1080p H.264/HEVC top-rung ratio (7800/5800): see docs/media.md.
UHD_H264_ROWS: tuple[LadderRow, ...] = (
    LadderRow(2560, 1440, 10900),
    LadderRow(3840, 2160, 15600),
    LadderRow(3840, 2160, 22600),
)

GOP_SECONDS = 2.0
MAXRATE_FACTOR = 1.5
BUFSIZE_FACTOR = 2.0
DEFAULT_AUDIO_BITRATE = 128_000
STANDARD_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
)
#: Low rates a VFR cadence may snap to as well (screen recordings, time-lapses, cheap phones).
LOW_RATES: tuple[Fraction, ...] = (Fraction(10), Fraction(12), Fraction(15000, 1001), Fraction(15), Fraction(20))
VFR_SNAP = 0.05   # a VFR cadence within 5 % of a standard rate is that rate

# H.264 Annex A, table A-1: level -> (MaxMBPS, MaxFS, MaxBR kbit/s, MaxCPB kbit/s); High profile
# multiplies MaxBR and MaxCPB by 1.25 (table A-2 cpbBrVclFactor 1250 vs 1000).
H264_LEVELS: tuple[tuple[str, int, int, int, int], ...] = (
    ("1.0", 1485, 99, 64, 175), ("1.1", 3000, 396, 192, 500), ("1.2", 6000, 396, 384, 1000),
    ("1.3", 11880, 396, 768, 2000), ("2.0", 11880, 396, 2000, 2000), ("2.1", 19800, 792, 4000, 4000),
    ("2.2", 20250, 1620, 4000, 4000), ("3.0", 40500, 1620, 10000, 10000),
    ("3.1", 108000, 3600, 14000, 14000), ("3.2", 216000, 5120, 20000, 20000),
    ("4.0", 245760, 8192, 20000, 25000), ("4.1", 245760, 8192, 50000, 62500),
    ("4.2", 522240, 8704, 50000, 62500), ("5.0", 589824, 22080, 135000, 135000),
    ("5.1", 983040, 36864, 240000, 240000), ("5.2", 2073600, 36864, 240000, 240000),
    ("6.0", 4177920, 139264, 240000, 240000), ("6.1", 8355840, 139264, 480000, 480000),
    ("6.2", 16711680, 139264, 800000, 800000),
)


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder (video bitrates in bits/s)."""

    name: str
    width: int
    height: int
    video_bitrate: int
    maxrate: int
    bufsize: int
    fps: Fraction
    keyint: int                  # frames between IDRs; same instants on every rung
    profile: str = "high"
    level: str = "4.0"
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE
    crf: float | None = None     # capped CRF instead of constrained VBR (per-title ladders of very short titles)

    @property
    def frame_rate(self) -> float:
        return float(self.fps)

    @property
    def gop_seconds(self) -> float:
        return float(self.keyint / self.fps)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def h264_level(width: int, height: int, fps: float, maxrate: int, bufsize: int, profile: str = "high") -> str:
    """Smallest H.264 level whose Annex A limits fit this frame size, rate and VBV."""
    mbs = math.ceil(width / 16) * math.ceil(height / 16)
    factor = 1.25 if profile == "high" else 1.0
    for name, max_mbps, max_fs, max_br, max_cpb in H264_LEVELS:
        if (mbs <= max_fs and mbs * fps <= max_mbps and maxrate <= max_br * 1000 * factor
                and bufsize <= max_cpb * 1000 * factor and max(width, height) <= math.sqrt(8 * max_fs) * 16):
            return name
    raise ValueError(f"{width}x{height}@{fps:.2f} at {maxrate} b/s exceeds every H.264 level")


def _even_floor(x: float) -> int:
    return max(2, int(math.floor(x / 2.0 + 1e-9)) * 2)


def _even_round(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def output_frame_rate(fps: float | Fraction, is_vfr: bool) -> Fraction:
    """The CFR rate the ladder is encoded at, before per-rung caps.

    CFR sources keep their rate, snapped to a standard rate when within 0.5 %
    (29.97 stored as 2997/100 becomes 30000/1001). VFR sources keep their cadence (``fps`` is
    1 / the median frame interval): the nearest standard or low rate within 5 %, else the
    smallest one above it, so the ``fps`` filter only repeats frames to fill gaps (a film
    master that drops frames stays 23.976, never 30).
    """
    f = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    if is_vfr:
        rates = sorted(STANDARD_RATES + LOW_RATES)
        nearest = min(rates, key=lambda std: abs(float(f) - float(std)))
        if abs(float(f) - float(nearest)) / float(nearest) <= VFR_SNAP:
            return nearest
        return next((r for r in rates if r >= f), Fraction(60))
    nearest = min(STANDARD_RATES, key=lambda std: abs(float(f) - float(std)))
    if abs(float(f) - float(nearest)) / float(nearest) < 0.005:
        return nearest
    return f.limit_denominator(1001)


def cap_frame_rate(fps: Fraction, cap: float) -> Fraction:
    """Divide ``fps`` by the smallest integer that brings it to <= ``cap`` (60 -> 30, 50 -> 25, 120 -> 60)."""
    n = max(1, math.ceil(float(fps) / cap - 1e-9))
    return fps / n


def _fit(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int, float]:
    """Largest even size with the source's aspect inside the box; also the scale factor."""
    if src_h > src_w:  # portrait: turn the 16:9 box upright
        box_w, box_h = box_h, box_w
    scale = min(box_w / src_w, box_h / src_h)
    w = min(_even_round(src_w * scale), _even_floor(src_w))
    h = min(_even_round(src_h * scale), _even_floor(src_h))
    return w, h, scale


def plan_ladder_for(
    display_width: int,
    display_height: int,
    fps: float | Fraction,
    *,
    is_vfr: bool = False,
    has_audio: bool = True,
    rows: tuple[LadderRow, ...] | None = None,
    include_uhd: bool = True,
    max_fps: float = 60.0,
    low_fps_cap: float = 30.0,
    low_fps_max_height: int = 540,
    native_min_gain: float = 1.3,
    min_kbps: int = 64,
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE,
) -> list[Rung]:
    """Ladder for a picture of ``display_width`` x ``display_height`` (rotation and SAR applied).

    ``low_fps_max_height`` applies to the row's 16:9 reference height (its "p" label).
    ``native_min_gain``: add a rung at the source size when it has at least this many times the
    pixels of the largest kept rung (a 1200x675 master gets a 1200x674 rung, not just 540p).
    """
    if display_width <= 0 or display_height <= 0:
        raise ValueError(f"invalid display size {display_width}x{display_height}")
    rows = rows if rows is not None else APPLE_H264_ROWS + (UHD_H264_ROWS if include_uhd else ())
    top_fps = cap_frame_rate(output_frame_rate(fps, is_vfr), max_fps)
    low_fps = cap_frame_rate(top_fps, low_fps_cap)

    picks: list[tuple[str, int, int, int, Fraction]] = []  # name, w, h, kbps, fps
    first_dropped: LadderRow | None = None
    for row in sorted(rows, key=lambda r: (r.width * r.height, r.kbps)):
        w, h, scale = _fit(display_width, display_height, row.width, row.height)
        if scale > 1.0 + 1e-6:
            if first_dropped is None:
                first_dropped = row
            continue
        kbps = max(min_kbps, round(row.kbps * (w * h) / (row.width * row.height)))
        rate = low_fps if row.height <= low_fps_max_height else top_fps
        picks.append((f"{row.height}p_{row.kbps}k", w, h, kbps, rate))

    largest = max((w * h for _, w, h, _, _ in picks), default=0)
    if first_dropped is not None:
        nw, nh = _even_floor(display_width), _even_floor(display_height)
        if not picks or nw * nh >= native_min_gain * largest:
            kbps = max(min_kbps, round(first_dropped.kbps * (nw * nh) / (first_dropped.width * first_dropped.height)))
            short = min(nw, nh)
            rate = low_fps if short <= low_fps_max_height else top_fps
            picks.append((f"{short}p_{kbps}k", nw, nh, kbps, rate))

    return build_rungs(picks, audio_bitrate if has_audio else 0)


def build_rungs(picks: list[tuple[str, int, int, int, Fraction]], audio_bitrate: int = DEFAULT_AUDIO_BITRATE
                ) -> list[Rung]:
    """Rungs from ``(name, width, height, kbps, fps)`` picks: constrained VBR, H.264 level, IDRs every
    ~2 s at the same instants on every rung, unique names (``audio_bitrate`` 0: no audio)."""
    base_fps = min(p[4] for p in picks)
    base_keyint = max(1, round(GOP_SECONDS * base_fps))
    rungs = []
    for name, w, h, kbps, rate in picks:
        bitrate = kbps * 1000
        maxrate = int(bitrate * MAXRATE_FACTOR)
        bufsize = int(bitrate * BUFSIZE_FACTOR)
        keyint = base_keyint * round(rate / base_fps)
        rungs.append(Rung(
            name=name, width=w, height=h, video_bitrate=bitrate, maxrate=maxrate, bufsize=bufsize,
            fps=rate, keyint=keyint, profile="high", level=h264_level(w, h, float(rate), maxrate, bufsize),
            audio_bitrate=audio_bitrate,
        ))
    # unique names (a non-16:9 native rung could collide with a row label)
    seen: dict[str, int] = {}
    out = []
    for r in rungs:
        n = seen.get(r.name, 0)
        seen[r.name] = n + 1
        out.append(r if n == 0 else replace(r, name=f"{r.name}_{n}"))
    return out


def plan_ladder(info: SourceInfo, **kwargs) -> list[Rung]:
    """The H.264 ladder for a probed master; keyword arguments as :func:`plan_ladder_for`.

    Uses ``info.fps`` (r_frame_rate for CFR sources, the cadence for VFR ones), doubled for an
    interlaced source: it is deinterlaced to one frame per field (encode.py, bwdif send_field).
    """
    fps = info.frame_rate or Fraction(info.fps).limit_denominator(1001)
    if info.is_interlaced:
        fps = fps * 2
    return plan_ladder_for(info.display_width, info.display_height, fps, is_vfr=info.is_vfr,
                           has_audio=info.has_audio, **kwargs)


__all__ = ["APPLE_H264_ROWS", "UHD_H264_ROWS", "LadderRow", "Rung", "build_rungs", "cap_frame_rate", "h264_level",
           "output_frame_rate", "plan_ladder", "plan_ladder_for"]
