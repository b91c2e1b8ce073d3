"""Per-title ladder: pick the rungs a title needs from trial encodes scored with VMAF.

Pure core (no ffmpeg here; :mod:`vodflow.media.trials` makes the points). The method follows
Netflix's per-title encoding (Netflix Tech Blog, "Per-Title Encode Optimization", 2015) and the
convex-hull selection of its dynamic optimizer (Katsavounidis, "Dynamic optimizer - a perceptual
video encoding optimization framework", Netflix Tech Blog 2018); see docs/media.md "Per-title
ladder" for the rules, the numbers and their sources. In short:

* input: trial points ``(width, height, crf, kbps, vmaf)`` at the candidate sizes of the fixed
  (Apple) ladder, so no size above the source and the same frame-rate rules;
* each size's curve keeps only points where more bits bring more quality (monotone), and is
  interpolated with a monotone piecewise cubic (PCHIP) in (log bitrate, VMAF) (:func:`vmaf_at`: it follows a
  concave curve's bend between trial CRFs ~2x apart in rate, where a straight line understates it); the *hull*
  at a rate is the best size's VMAF there, so the cheapest size wins at every quality (the rate-quality convex
  hull across sizes);
* top rung (:func:`find_top`): the highest quality where 10 % fewer bits still cost at least
  ``top_min_drop`` VMAF (beyond it more bits stop helping), at most ``quality_ceiling``, and never above
  ``max_kbps`` (:func:`rate_cap`: 2x the source's rate, its useful bits, so a 1 Mb/s master gets no
  8 Mb/s rung; and 2x the fixed ladder's top rate);
* bottom rung: the hull at ``min_kbps`` (the fixed ladder's bottom), or its cheapest point;
* rungs in between at equal VMAF steps of at most ``step`` (about one just-noticeable
  difference), sizes never shrinking as the rate grows, adjacent rates at least ``min_ratio``
  apart, at most ``max_rungs`` rungs. Easy content (animation, static shots) reaches the top
  quality at a low rate, so it gets fewer and cheaper rungs;
* the flat-part rule (issue 14, target 2: 10 % fewer bits must cost >= ``FLAT_DROP`` VMAF) is
  checked for every rung on the hull's slope with a margin (``top_min_drop`` for the top,
  ``rung_min_drop`` below it); a lower rung that fails is moved within half a step or left out.
  Below a size's cheapest trial its curve is continued with its cheapest slope (:func:`vmaf_below`),
  which understates a drop, so a flat rung never passes by extrapolation. When no top passes at all
  (:func:`find_top` is None), the trials module adds trials at higher CRFs;
* minimum ladder (``min_rungs``; the trials module asks for 2 from sources of :data:`MIN_LADDER_LINES`):
  a one-rung ladder gets a cheaper second rung below its top that passes the flat-part rule, never one above
  (it would sit on the flat part);
* every pick carries the CRF its rate corresponds to on its size's curve (:func:`crf_at`): very short titles
  are encoded with capped CRF at that CRF (see :mod:`vodflow.media.trials`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

#: VMAF a viewer can just tell apart (Netflix: ~6 VMAF points is one JND at 1080p).
JND_VMAF = 6.0
#: a rung is "on the flat part" when 10 % fewer bits cost less than this much VMAF.
FLAT_DROP = 0.5
#: margins over FLAT_DROP (trial curves are estimates from a sample): the top rung's 10 % cut must cost
#: this much on the trial hull. The first benchmark measured a median 0.63x the predicted drop at the top
#: (0.34x-1.9x), so 1.2 keeps most tops >= 0.5 measured; 1.5 was tried and put the tops at VMAF 75-86,
#: since x264 curves near VMAF 90-95 lose only ~1.1 VMAF per 10 % of bits. The second run measured the
#: tops of the two 720p Big Buck Bunny masters at 0.47/0.49 for a predicted 1.23/1.33 (0.37x: the trial
#: hull was linear between CRF points ~2x apart in rate, the true curve flattens towards the upper one),
#: so 1.5 (0.5 / 0.37 = 1.35, rounded up). Session 15 made the curves PCHIP (:func:`vmaf_at`): on the session-13
#: tops it predicts 0.85/0.92 for the measured 0.83/0.89 of those masters (the chord said 1.50/1.52), but the
#: clips whose sample mispredicts the title's VMAF still measure less (clip 10: 0.38x, 0.62 for 1.63), so the
#: margin stays 1.5 (0.5 / 0.38 = 1.3); it now places the tops lower, where the curve really is that steep.
TOP_MIN_DROP = 1.5
#: still or near-still content (the trials had to go to CRF 41/48 to find any slope): x264 sits near its
#: floor there and the first bench measured 0.12x the predicted drop, so the top needs this many times
#: the margin (see trials.analyse).
STILL_MARGIN = 2.0
#: minimum ladder (docs/media.md "Minimum ladder"): a source of at least this many lines (short side)
#: gets at least two rungs when a second one passes the flat-part rule.
MIN_LADDER_LINES = 360
#: ... and every lower rung's (steeper parts of the curve, smaller prediction error there).
RUNG_MIN_DROP = 1.0
#: a size's curve that ends this much above every other size's is extended by a trial (:func:`curves_ending_on_hull`).
END_MARGIN = 1.0
#: no rung is aimed above this VMAF: ~95 is where trained viewers stop seeing differences at 1080p.
QUALITY_CEILING = 95.0
#: rate cap relative to the source's bitrate: x264 ``veryfast`` needs up to ~2x the bits of an HEVC, VP9
#: or AV1 master for the same picture, so 2x a master's rate is the most its bits can justify.
SOURCE_RATE_FACTOR = 2.0
#: complex content may take up to this many times the fixed ladder's top rate.
FIXED_TOP_FACTOR = 2.0
TEN_PERCENT = 0.9


@dataclass(frozen=True)
class TrialPoint:
    """One trial encode: a size, the CRF it was made with, its video bitrate and VMAF vs the source."""

    width: int
    height: int
    crf: float
    kbps: float
    vmaf: float

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


@dataclass(frozen=True)
class Pick:
    """One chosen rung: size, target average bitrate and the quality the trials predict for it."""

    width: int
    height: int
    kbps: float
    vmaf: float
    drop10: float  # predicted VMAF lost with 10 % fewer bits (the flat-part check)
    crf: float | None = None  # the CRF the trials reach this rate with (CRF-capped encodes of short titles)

    def to_dict(self) -> dict:
        """JSON-safe: ``drop10`` is None when 10 % fewer bits fall below the cheapest trial (unknown)."""
        return {k: (round(v, 3) if math.isfinite(v) else None) if isinstance(v, float) else v
                for k, v in asdict(self).items()}


# ----------------------------------------------------------------------------- curves
def size_curve(points: Iterable[TrialPoint]) -> list[TrialPoint]:
    """One size's points by rate, keeping only those that beat every cheaper point's VMAF."""
    out: list[TrialPoint] = []
    for p in sorted(points, key=lambda p: (p.kbps, -p.vmaf)):
        if p.kbps > 0 and (not out or p.vmaf > out[-1].vmaf):
            out.append(p)
    return out


def curves_by_size(points: Iterable[TrialPoint]) -> dict[tuple[int, int], list[TrialPoint]]:
    by: dict[tuple[int, int], list[TrialPoint]] = {}
    for p in points:
        by.setdefault(p.size, []).append(p)
    return {size: c for size, pts in sorted(by.items(), key=lambda kv: kv[0][0] * kv[0][1])
            if (c := size_curve(pts))}


@functools.lru_cache(maxsize=1024)
def _interpolant(curve: tuple[TrialPoint, ...]):
    """The monotone piecewise-cubic (PCHIP, Fritsch-Carlson) VMAF of a size's curve over log rate, within its
    points (NaN outside). Two points: the straight line. See :func:`vmaf_at`."""
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator([math.log(p.kbps) for p in curve], [p.vmaf for p in curve], extrapolate=False)


def vmaf_at(curve: Sequence[TrialPoint], kbps: float) -> float | None:
    """VMAF of a size's curve at ``kbps``; None outside its measured range.

    Monotone piecewise-cubic (PCHIP) in log rate through the curve's points, the interpolation the BD-rate of
    the JVET/AOM common test conditions uses (:func:`bd_rate`). Rate-quality curves are concave in log rate, and
    the trial CRFs are ~7 apart (2-2.5x in rate): a straight line between two points understates every rate in
    between (clip 01's 540p rung, session 13: 64.2 predicted on the chord, 73.8 measured). PCHIP follows the
    neighbouring segments' slopes, never overshoots the points (no VMAF above the higher one, no dip below the
    lower one) and is the straight line on a two-point curve.
    """
    if not curve or kbps < curve[0].kbps * (1 - 1e-9) or kbps > curve[-1].kbps * (1 + 1e-9):
        return None
    if len(curve) == 1 or kbps <= curve[0].kbps:
        return curve[0].vmaf
    if kbps >= curve[-1].kbps:
        return curve[-1].vmaf
    return float(_interpolant(tuple(curve))(math.log(kbps)))


def kbps_at(curve: Sequence[TrialPoint], vmaf: float) -> float | None:
    """Rate at which a size's curve reaches ``vmaf`` (the inverse of :func:`vmaf_at`); None outside its measured
    range."""
    if not curve or vmaf < curve[0].vmaf - 1e-9 or vmaf > curve[-1].vmaf + 1e-9:
        return None
    if len(curve) == 1 or vmaf <= curve[0].vmaf:
        return curve[0].kbps
    if vmaf >= curve[-1].vmaf:
        return curve[-1].kbps
    # the curve rises strictly (size_curve), so PCHIP does too: one root; the first on a (numerically) flat joint
    import numpy as np

    roots = _interpolant(tuple(curve)).solve(vmaf, extrapolate=False)
    roots = roots[~np.isnan(roots)]
    if not len(roots):  # at a point within float error: the nearest point's rate
        return min(curve, key=lambda p: abs(p.vmaf - vmaf)).kbps
    return math.exp(float(roots[0]))


def crf_at(curve: Sequence[TrialPoint], kbps: float) -> float:
    """The CRF a size's curve spends ``kbps`` at (linear in log rate between its points, continued with
    the end segments' slope outside them; a one-point curve: its CRF)."""
    if len(curve) < 2:
        return curve[0].crf
    i = 0
    while i < len(curve) - 2 and kbps > curve[i + 1].kbps:
        i += 1
    a, b = curve[i], curve[i + 1]
    return a.crf + (b.crf - a.crf) * math.log(kbps / a.kbps) / math.log(b.kbps / a.kbps)


def hull_vmaf(curves: dict[tuple[int, int], list[TrialPoint]], kbps: float) -> float | None:
    """The rate-quality hull: the best VMAF any size reaches at ``kbps``."""
    vals = [v for c in curves.values() if (v := vmaf_at(c, kbps)) is not None]
    return max(vals) if vals else None


def best_size_for(curves: dict[tuple[int, int], list[TrialPoint]], vmaf: float,
                  min_pixels: int = 0) -> tuple[tuple[int, int], float] | None:
    """Cheapest (size, kbps) reaching ``vmaf`` among sizes of at least ``min_pixels``."""
    best = None
    for size, c in curves.items():
        if size[0] * size[1] < min_pixels:
            continue
        r = kbps_at(c, vmaf)
        if r is not None and (best is None or r < best[1]):
            best = (size, r)
    return best


def hull_points(points: Iterable[TrialPoint]) -> list[TrialPoint]:
    """The trial points on the upper convex hull of (log rate, VMAF) across all sizes (for plots)."""
    pareto: list[TrialPoint] = []
    for p in sorted(points, key=lambda p: (p.kbps, -p.vmaf)):
        if p.kbps > 0 and (not pareto or p.vmaf > pareto[-1].vmaf):
            pareto.append(p)
    hull: list[TrialPoint] = []
    for p in pareto:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = ((math.log(b.kbps) - math.log(a.kbps)) * (p.vmaf - a.vmaf)
                     - (b.vmaf - a.vmaf) * (math.log(p.kbps) - math.log(a.kbps)))
            if cross >= 0:  # b lies on or below the chord a-p: not on the concave hull
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def vmaf_below(curve: Sequence[TrialPoint], kbps: float) -> float | None:
    """VMAF of a size's curve at ``kbps`` below its cheapest trial, continued down with the slope of its
    cheapest segment (in log rate). Rate-quality curves are concave in log rate, so the true slope below
    is at least that steep: the continued curve overstates the quality there, which understates a drop.
    None for a one-point curve (no slope)."""
    if len(curve) < 2 or kbps >= curve[0].kbps:
        return vmaf_at(curve, kbps)
    a, b = curve[0], curve[1]
    return a.vmaf + (b.vmaf - a.vmaf) * math.log(kbps / a.kbps) / math.log(b.kbps / a.kbps)


def drop10(curves: dict[tuple[int, int], list[TrialPoint]], kbps: float, vmaf: float) -> float:
    """VMAF lost on the hull when ``kbps`` is cut by 10 %. Below the cheapest trial of a size its curve
    is continued with :func:`vmaf_below` (an underestimate of the drop); inf when no size can say."""
    lower = hull_vmaf(curves, kbps * TEN_PERCENT)
    if lower is None:
        below = [v for c in curves.values() if (v := vmaf_below(c, kbps * TEN_PERCENT)) is not None]
        lower = max(below) if below else None
    return math.inf if lower is None else vmaf - lower


def find_top(curves: dict[tuple[int, int], list[TrialPoint]], *, cap: float = math.inf,
             top_min_drop: float = TOP_MIN_DROP, quality_ceiling: float = QUALITY_CEILING,
             grid: float = 0.1) -> tuple[float, tuple[int, int], float] | None:
    """The top rung (vmaf, size, kbps): scanning down from the best reachable quality (at most
    ``quality_ceiling``), the first quality whose cheapest size is under ``cap`` and where 10 % fewer
    bits cost at least ``top_min_drop`` (a known drop: not inf). None when the trials are flat
    everywhere (more bits never help in the measured range: still or very simple content)."""
    v_max = max(c[-1].vmaf for c in curves.values())
    v_min = min(c[0].vmaf for c in curves.values())
    q = min(v_max, quality_ceiling)
    while q >= v_min - 1e-9:
        found = best_size_for(curves, q)
        if found is not None:
            size, r = found
            d = drop10(curves, r, q)
            if r <= cap and top_min_drop <= d < math.inf:
                return q, size, r
        q -= grid
    return None


# ----------------------------------------------------------------------------- selection
def select_ladder(
    points: Iterable[TrialPoint],
    *,
    max_kbps: float | None = None,
    min_kbps: float = 145.0,
    step: float = JND_VMAF,
    top_min_drop: float = TOP_MIN_DROP,
    rung_min_drop: float = RUNG_MIN_DROP,
    quality_ceiling: float = QUALITY_CEILING,
    max_rungs: int = 8,
    min_ratio: float = 1.3,
    min_rungs: int = 1,
    grid: float = 0.1,
) -> list[Pick]:
    """The per-title ladder (lowest rung first) from trial points; see the module docstring."""
    pts = list(points)
    curves = curves_by_size(pts)
    if not curves:
        raise ValueError("no usable trial points (every point has a zero rate)")
    cap = max_kbps if max_kbps and max_kbps > 0 else math.inf
    top = find_top(curves, cap=cap, top_min_drop=top_min_drop, quality_ceiling=quality_ceiling, grid=grid)
    if top is None:
        # flat everywhere (a still picture: more bits never help) or every point above the cap: the cheapest trial
        p = min((c[0] for c in curves.values()), key=lambda p: p.kbps)
        top = (p.vmaf, p.size, p.kbps)
    q_top, top_size, top_rate = top

    # bottom: the hull at min_kbps, else its cheapest point
    q_bottom = hull_vmaf(curves, min_kbps)
    if q_bottom is None:
        cheapest = min((c[0] for c in curves.values()), key=lambda p: p.kbps)
        q_bottom = cheapest.vmaf if cheapest.kbps > min_kbps else max(c[-1].vmaf for c in curves.values())
    q_bottom = min(q_bottom, q_top)

    n = 1 if q_top - q_bottom < 1e-6 else min(max_rungs, math.ceil((q_top - q_bottom) / step - 1e-9) + 1)
    targets = [q_top] if n == 1 else [q_bottom + i * (q_top - q_bottom) / (n - 1) for i in range(n)]

    picks: list[Pick] = []
    for i, qi in enumerate(targets):
        if i == len(targets) - 1:
            size, r = top_size, top_rate
        else:
            min_px = picks[-1].width * picks[-1].height if picks else 0
            found = best_size_for(curves, qi, min_px) or best_size_for(curves, qi)
            if found is None:
                continue
            size, r = found
            if drop10(curves, r, qi) < rung_min_drop:
                # on a flat stretch of the hull (often where the best size changes): move the rung to the
                # nearest quality within a step where 10 % fewer bits cost enough, else leave it out
                floor = picks[-1].kbps * min_ratio if picks else 0.0
                moved = _steeper(curves, qi, step, min_px, rung_min_drop, grid, floor)
                if moved is None:
                    continue
                qi, size, r = moved
        if picks and i < len(targets) - 1 and r < picks[-1].kbps * min_ratio:
            continue
        if picks and i == len(targets) - 1:
            # the top always stays; drop lower rungs that sit too close under it
            while picks and top_rate < picks[-1].kbps * min_ratio:
                picks.pop()
            # sizes never shrink as the rate grows: every lower rung larger than the top's size goes
            while picks and top_size[0] * top_size[1] < picks[-1].width * picks[-1].height:
                picks.pop()
        picks.append(Pick(size[0], size[1], r, qi, drop10(curves, r, qi), crf_at(curves[size], r)))
    if len(picks) < min_rungs:
        picks = _second_rung(curves, picks, rung_min_drop=rung_min_drop, min_ratio=min_ratio, grid=grid)
    return picks


def _second_rung(curves: dict[tuple[int, int], list[TrialPoint]], picks: list[Pick], *, rung_min_drop: float,
                 min_ratio: float, grid: float) -> list[Pick]:
    """The minimum ladder (docs/media.md "Minimum ladder"): a one-rung ladder gets a second rung below its
    top, at least ``min_ratio`` cheaper and passing the flat-part rule (viewers on a poor connection get a
    rung to fall back to). Nothing is added above: find_top already scanned every higher quality, so a
    rung there would sit on the flat part. When no such rung exists the ladder stays at one rung."""
    if len(picks) != 1:
        return picks
    top = picks[0]
    q = top.vmaf - grid
    v_min = min(c[0].vmaf for c in curves.values())
    while q >= v_min - 1e-9:
        found = best_size_for(curves, q)
        if found is not None:
            size, r = found
            d = drop10(curves, r, q)
            if r * min_ratio <= top.kbps and size[0] * size[1] <= top.width * top.height and rung_min_drop <= d < math.inf:
                return [Pick(size[0], size[1], r, q, d, crf_at(curves[size], r)), top]
        q -= grid
    return picks


def _steeper(curves: dict[tuple[int, int], list[TrialPoint]], q: float, reach: float, min_px: int,
             min_drop: float, grid: float, min_rate: float = 0.0) -> tuple[float, tuple[int, int], float] | None:
    """The quality nearest ``q`` (within ``reach``) whose cheapest size (of at least ``min_px`` pixels)
    costs at least ``min_rate`` and loses at least ``min_drop`` VMAF with 10 % fewer bits:
    (quality, size, kbps), or None."""
    for k in range(1, int(reach / grid) + 1):
        for qk in (q - k * grid, q + k * grid):
            found = best_size_for(curves, qk, min_px) or best_size_for(curves, qk)
            if found is not None and found[1] >= min_rate and drop10(curves, found[1], qk) >= min_drop:
                return qk, found[0], found[1]
    return None


def source_rate_cap(source_kbps: float | None, factor: float = SOURCE_RATE_FACTOR) -> float | None:
    """The highest rung rate a source's bits justify (None: unknown source rate, no cap)."""
    return source_kbps * factor if source_kbps and source_kbps > 0 else None


def rate_cap(source_kbps: float | None, fixed_top_kbps: float | None, fixed_rungs: int = 2) -> float | None:
    """The top rung's limit: the source's useful bits (:func:`source_rate_cap`) and at most
    ``FIXED_TOP_FACTOR`` x the fixed ladder's top rate (complex content may get more than the table,
    but a 240p clip never gets a 1080p budget). A one-rung fixed ladder (a source at the table's smallest
    size) caps at its own rate: the table's bottom rate is already what it allots the smallest picture, and
    such a source's top is no steeper than the fixed rung (the 426x240 clip got 155 kb/s vs 145 fixed,
    +6.5 % bits for +1.1 VMAF, session 11)."""
    factor = FIXED_TOP_FACTOR if fixed_rungs > 1 else 1.0
    caps = [c for c in (source_rate_cap(source_kbps),
                        fixed_top_kbps * factor if fixed_top_kbps else None) if c]
    return min(caps) if caps else None


def top_still_rising(points: Iterable[TrialPoint], *, max_kbps: float | None = None,
                     top_min_drop: float = TOP_MIN_DROP, quality_ceiling: float = QUALITY_CEILING) -> bool:
    """True when the best trial is below the ceiling and under the rate cap but 10 % fewer bits still cost
    at least ``top_min_drop`` there: the trials stopped before more bits stop helping (complex content),
    so one more trial at a lower CRF is needed to place the top rung."""
    curves = curves_by_size(points)
    if not curves:
        return False
    best = max((c[-1] for c in curves.values()), key=lambda p: p.vmaf)
    if best.vmaf >= quality_ceiling or (max_kbps and best.kbps >= max_kbps):
        return False
    return drop10(curves, best.kbps, best.vmaf) >= top_min_drop


def curves_ending_on_hull(points: Iterable[TrialPoint], *, max_kbps: float | None = None,
                          margin: float = END_MARGIN) -> list[tuple[int, int]]:
    """Sizes (not the largest) whose dearest trial lies under the rate cap and at least ``margin`` VMAF above every
    other size's curve at its rate (at least one other curve must reach that rate): the hull leaves such a size only
    because its trials stop there (sizes of at most 360 lines skip CRF 20, see trials.trial_crfs), so where a larger
    size really overtakes it is not measured, and the rungs above its end go to a larger size by default. One more
    trial at a lower CRF on that size places the crossing (clip 01, session 15: 360p ended at 291 kb/s 2.3 VMAF
    over 540p; the ladder's 540p rung measured 72.9 at 335 kb/s where the fixed ladder's 360p measured 76.8 at
    380)."""
    curves = curves_by_size(points)
    out = []
    for size in list(curves)[:-1]:
        end = curves[size][-1]
        if max_kbps and end.kbps >= max_kbps:
            continue
        others = [v for other, c in curves.items() if other != size and (v := vmaf_at(c, end.kbps)) is not None]
        if others and end.vmaf - max(others) >= margin:
            out.append(size)
    return out


# ----------------------------------------------------------------------------- comparing ladders
def bd_rate(reference: Iterable[tuple[float, float]], test: Iterable[tuple[float, float]],
            samples: int = 200) -> float | None:
    """Bjontegaard delta rate of ``test`` vs ``reference`` ((kbps, quality) points): the mean rate
    difference at equal quality over the quality range both cover, as a fraction (-0.3 = 30 % fewer
    bits). Curves are piecewise-cubic (PCHIP) log-rate over quality, the interpolation of the
    JVET/AOM common test conditions, so 2-9 ladder points work. None when the ranges do not overlap.
    """
    import numpy as np
    from scipy.interpolate import PchipInterpolator

    def curve(pts):
        mono: list[tuple[float, float]] = []
        for r, q in sorted(pts):
            if r > 0 and (not mono or q > mono[-1][1]):
                mono.append((r, q))
        return mono

    a, b = curve(reference), curve(test)
    if len(a) < 2 or len(b) < 2:
        return None
    lo, hi = max(a[0][1], b[0][1]), min(a[-1][1], b[-1][1])
    if hi - lo < 1e-6:
        return None
    qs = np.linspace(lo, hi, samples)
    la = PchipInterpolator([q for _, q in a], [math.log(r) for r, _ in a])(qs)
    lb = PchipInterpolator([q for _, q in b], [math.log(r) for r, _ in b])(qs)
    return float(math.exp(float(np.trapezoid(lb - la, qs)) / (hi - lo)) - 1)


# ----------------------------------------------------------------------------- sampling
#: share of the title the trials sample, and its bounds in seconds (see :func:`sample_windows`; with a known frame
#: rate the lower bound is SAMPLE_MIN_FRAMES instead of SAMPLE_MIN_SECONDS).
SAMPLE_FRACTION = 0.03
SAMPLE_MIN_SECONDS = 0.5
SAMPLE_MAX_SECONDS = 8.0
SAMPLE_WINDOW = 0.33
#: the sample holds at least this many frames (at the ladder's top frame rate), each window at least
#: WINDOW_MIN_FRAMES: the 2.4 s 10 fps phone clip's 0.5 s sample was 5 frames, 1 of them VMAF-scored at
#: subsample 5, and its trials mispredicted the measured rungs by up to 8 VMAF (BD-rate +12.2 %, session 11).
#: The floor is these frames at any frame rate (session 13: a 0.5 s floor held 25 frames at 50 fps, 30 at 60 fps).
SAMPLE_MIN_FRAMES = 12
WINDOW_MIN_FRAMES = 6
#: rate calibration (see :func:`calibration_windows`): this share of the title, at least CALIBRATION_MIN_SECONDS;
#: when that is at least CALIBRATION_WHOLE of the title, the whole title is used.
CALIBRATION_FRACTION = 0.15
CALIBRATION_MIN_SECONDS = 3.0
CALIBRATION_WHOLE = 0.5


def sample_windows(duration: float, *, fraction: float = SAMPLE_FRACTION, min_total: float = SAMPLE_MIN_SECONDS,
                   max_total: float = SAMPLE_MAX_SECONDS, window: float = SAMPLE_WINDOW, fps: float | None = None,
                   min_frames: int = SAMPLE_MIN_FRAMES) -> list[tuple[float, float]]:
    """Short (start, length) windows spread evenly over the title for the trial encodes.

    The total is ``fraction`` of the title, clamped to [min_total, max_total] seconds (never more
    than the title; with ``fps``, at least ``min_frames`` frames, so a low frame rate still gives VMAF
    a few frames to score), so the analysis grows with the title like its encode does (the time target)
    and stops growing for long titles; windows of ``window`` seconds sit at the centres of equal
    parts, so the opening, the middle and the end are all sampled.
    """
    if duration <= 0:
        raise ValueError(f"cannot sample a title of {duration} s")
    if fps and fps > 0:
        # the floor is counted in frames (what VMAF scores and x264 spends bits on), not seconds: at 50 fps a
        # 0.5 s floor was 25 frames, twice what a 1 s title needs and twice its analysis cost
        min_total = min_frames / fps
        window = max(window, WINDOW_MIN_FRAMES / fps)
    total = min(duration, max(min_total, min(max_total, fraction * duration)))
    n = max(1, round(total / window))
    length = total / n
    part = duration / n
    return [(round(max(0.0, part * (i + 0.5) - length / 2), 3), round(length, 3)) for i in range(n)]


def calibration_windows(duration: float, samples: Sequence[tuple[float, float]], *,
                        fraction: float = CALIBRATION_FRACTION, min_total: float = CALIBRATION_MIN_SECONDS,
                        whole: float = CALIBRATION_WHOLE) -> list[tuple[float, float]]:
    """Wider windows around the sample windows, one each, for the rate calibration (trials.make_reference).

    Together ``fraction`` of the title (at least ``min_total`` s and the sample itself); when that reaches
    ``whole`` of the title, the windows tile the whole title. Each window is centred on its sample window (so
    one decode of the master serves the reference and the calibration encode), never overlaps its neighbours
    and contains its sample window. Session 11 calibrated on the whole title: 58 % analysis overhead, most of it
    decoding 32 s mezzanine masters once more.
    """
    if duration <= 0 or not samples:
        raise ValueError(f"cannot calibrate a title of {duration} s with {len(samples)} sample windows")
    n = len(samples)
    sampled = sum(length for _, length in samples)
    total = min(duration, max(min_total, fraction * duration, sampled))
    part = duration / n
    if total >= whole * duration:
        return [(round(part * i, 3), round(part, 3)) for i in range(n)]
    length = min(part, total / n)
    out = []
    for s, l in samples:
        start = min(max(0.0, s + l / 2 - length / 2), duration - length)
        start = min(start, s)  # contains its sample window
        out.append((round(start, 3), round(max(length, s + l - start), 3)))
    return out


#: Seconds of frames a seek may decode only to drop them (from the key frame before a window to its start) before
#: the window moves back to that key frame (:func:`align_to_key_frames`). An input seek decodes from the key frame
#: at or before the requested time: on the 1080p Big Buck Bunny master (key frames 5.3 s apart) the three
#: calibration windows each decoded ~4.5 s of frames they threw away, 0.95 CPU s each of the analysis (issue 14
#: target 3, session 16); a 1 s pre-roll is under a tenth of that at any resolution.
SEEK_PREROLL_MAX = 1.0


def align_to_key_frames(reads: Sequence[tuple[float, float]], samples: Sequence[tuple[float, float]],
                        keys: Sequence[float | None], *, preroll: float = SEEK_PREROLL_MAX,
                        ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Move each read window (a calibration window, or the sample window itself when the sample is read
    directly) and its sample window back to the key frame a seek to it lands on, when the seek would otherwise
    decode and drop more than ``preroll`` seconds of frames.

    ``keys[i]`` is the key frame at or before ``reads[i]``'s start (None when unknown: the window stays). A
    window moves by its whole pre-roll or not at all, keeps its length and its sample's place inside it, and
    never moves onto the window before it (the spread over the title holds: each window moves back by less than
    one key-frame interval). Returns the new (reads, samples)."""
    if not (len(reads) == len(samples) == len(keys)):
        raise ValueError("one key frame and one sample window per read window are needed")
    out_reads: list[tuple[float, float]] = []
    out_samples: list[tuple[float, float]] = []
    prev_end = 0.0
    for (start, length), (s_start, s_length), key in zip(reads, samples, keys):
        shift = 0.0
        if key is not None and 0.0 <= key < start - preroll:
            # never below the key frame (rounding down by a millisecond would seek to the key frame before it)
            new = math.ceil(key * 1000 - 1e-6) / 1000
            if new >= prev_end - 1e-9:
                shift = start - new
        out_reads.append((round(start - shift, 3), length))
        out_samples.append((round(s_start - shift, 3), s_length))
        prev_end = start - shift + length
    return out_reads, out_samples


__all__ = ["SEEK_PREROLL_MAX", "align_to_key_frames", "END_MARGIN", "curves_ending_on_hull", "FLAT_DROP", "JND_VMAF", "MIN_LADDER_LINES", "STILL_MARGIN", "TOP_MIN_DROP", "crf_at", "Pick", "QUALITY_CEILING", "TrialPoint", "bd_rate", "best_size_for", "curves_by_size",
           "drop10", "find_top", "hull_points", "hull_vmaf", "kbps_at", "sample_windows", "select_ladder", "size_curve",
           "calibration_windows", "rate_cap", "source_rate_cap", "top_still_rising", "vmaf_at", "vmaf_below"]
