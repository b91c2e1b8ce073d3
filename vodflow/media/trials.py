"""Trial encodes for the per-title ladder: sample the title, encode CRF points, score with VMAF.

The thin adapter around :mod:`vodflow.media.per_title` (the pure rules). Four ffmpeg runs:

1. **reference**: short windows spread over the title (:func:`per_title.sample_windows`, 3 % of
   it, at least 12 frames at any frame rate), brought to the ladder's top frame rate and the display size (capped to a
   1920x1080 box), joined and stored lossless (raw pictures or x264 ``-qp 0``). The same ffmpeg run (one decode of the
   master) makes the **rate calibration** encode: wider windows around the sample windows
   (:func:`per_title.calibration_windows`, 15 % of the title, at least 3 s; the whole title when that is half
   of it) at the smallest trial size and its first CRF, encoded like a trial (:class:`CalibrationSpec`);
2. **trials**, coarse to fine (issue 14 target 3, session 16): the reference decoded once and ``split`` to the
   sizes of the round, each at its CRF points (:func:`trial_crfs`), x264 with the production preset and GOP, an IDR
   forced at every join; :func:`trial_kbps` weighs those IDRs to the title's IDR rate, so a trial's bitrate
   predicts the rung's. The candidate sizes are every size of the fixed ladder (same sizes and frame rates, so no
   upscale; 432p included, :func:`trial_sizes`). The first round trials the middle sizes only
   (:func:`first_round_sizes`: not the smallest, the largest or 432p); the calibration point (the smallest size's
   first CRF) is encoded with it for its rate, and scored only if that size is trialled later. Later rounds
   (:func:`next_trials`, at most :data:`MAX_MORE_ROUNDS`) add what the hull so far says can matter;
3. **rate calibration**: every trial rate is scaled by the calibration encode's rate over the sample trial's at
   that point (:func:`calibration_kbps`, :func:`calibrate`). A few short windows can be much easier or harder
   than the title (the 30 s VP8 clip's three windows took 2.0x the title's bits at every size and CRF: 1.94-2.1x
   measured over 9 whole-title trials). x264's CRF holds quality roughly constant while the rate follows the
   content's complexity, so the rate is what the sample mispredicts most (same clip: VMAF at a CRF within 3-10
   points of the whole title's, rates 2x off). Session 11 encoded the whole title for this (58 % analysis
   overhead, 12-23 CPU s of decoding on the 32 s mezzanine masters); 15 % of it in windows measured within a
   few % of the whole title's rate (bench/per_title_calibration.py, docs/benchmarks-encode.md);
4. **scores**: every trial of a round scored against the reference in one libvmaf run (imageio-ffmpeg). The
   reference is raw pictures (NUT) when small (:data:`RAW_REFERENCE_BYTES`), so the runs that read it barely decode.

Cost (issue 14 target 3: the analysis adds <= 25 % to the title's encode): the sample is 3 % of the title, so on
long titles the analysis grows with the title like its encode (18-20 % measured on the 32 s masters). Below
~16 s (400 frames) the 12-frame floor takes over: the analysis is then a fixed ~12 frames x 5-10 trials encoded and
scored (VMAF at the display size costs ~10x a veryfast encode per frame), while the title's encode shrinks with
its length, so a 1-2 s title's analysis costs several times its own (cheap) encode. The floor is counted in
frames, not seconds (a 0.5 s floor was 25 frames at 50 fps). Fewer frames or points would save CPU-seconds on
titles whose whole encode takes one, at the price of the prediction error the floor was set against (clip 03:
5 frames mispredicted rungs by up to 8 VMAF).

Later rounds (:func:`next_trials`): the smallest size when the hull does not reach 10 % under the ladder's bottom
rate; the largest when the top rung lies near the end of the largest trialled size's curve (:data:`NEAR_END`) or
the top still climbs; CRF 13 on the largest size when its top curve still climbs (complex content); the next
lower CRF on a smaller size whose curve ends on the hull (it skipped CRF 20, and where a larger size overtakes it is
not measured). When no quality passes the flat-part rule after the first round (still pictures): CRF 41/48 on the
smallest and the largest size instead.

:func:`plan_per_title` turns the picks into :class:`~vodflow.media.ladder.Rung` objects
(constrained VBR at the trial rate, IDRs every 2 s as in the fixed ladder) and returns the
analysis (points, hull, picks, timings) that is stored with the title.
"""

from __future__ import annotations

import dataclasses
import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vodflow.media.conform import conform_steps
from vodflow.media.encode import DEFAULT_PRESET
from vodflow.media.ladder import Rung, build_rungs, plan_ladder
from vodflow.media.per_title import (
    align_to_key_frames,
    MIN_LADDER_LINES,
    STILL_MARGIN,
    TEN_PERCENT,
    TOP_MIN_DROP,
    Pick,
    TrialPoint,
    calibration_windows,
    curves_by_size,
    curves_ending_on_hull,
    find_top,
    hull_points,
    sample_windows,
    rate_cap,
    select_ladder,
    top_still_rising,
)
from vodflow.media.probe import SourceInfo
from vodflow.media.tools import MediaToolError, ffmpeg_bin, ffprobe_bin, run_tool
from vodflow.media.vmaf import vmaf_scores

#: CRF points of the trials: ~7 CRF apart (about half / double the rate), spanning ~50..97 VMAF.
TRIAL_CRFS: tuple[int, ...] = (20, 27, 34)
#: sizes at or below this short side skip the lowest CRF (small pictures only carry the low rungs),
#: the largest size skips the highest (at low rates a smaller size wins): 2-3 points per size.
SMALL_SIDE = 360
#: the extra trial for complex content (see per_title.top_still_rising) sits this many CRF below the lowest.
EXTRA_CRF_STEP = 7
#: libvmaf scores every n-th frame of the sample (odd: x264's frame-type pattern must not alias with it;
#: libvmaf still feeds every frame to its motion feature, so skipping frames does not bias the score).
VMAF_SUBSAMPLE = 5
#: ... but at least this many frames of a short sample are scored (a lower subsample; see per_title.SAMPLE_MIN_FRAMES).
MIN_SCORED_FRAMES = 4
#: a trial size between neighbours at most this many times apart in pixels gets fewer CRF points (see trial_crfs).
MAX_SIZE_GAP = 2.3
#: VMAF is scored at the display size, capped to this box (the v0.6.1 model's 1080p viewing set-up).
SCORE_BOX = (1920, 1080)
#: titles shorter than this (3 GOPs) are encoded with capped CRF at the trial's CRF instead of constrained
#: VBR: x264's VBR does not settle on a few dozen frames (the 1 s 1080p50 clip: VMAF 92.5 predicted,
#: 52.9 measured, its first frames starved), while the trial's own rate control lands where it measured.
CRF_CAP_SECONDS = 6.0
#: the sample's lossless reference is stored as raw pictures up to this size (a 30 s 1080p title's 24 frames: 75 MB):
#: decoding the x264 -qp 0 file cost ~0.3 CPU s per run at 1080p (two to four runs read it), encoding it as much.
#: Longer samples (up to 8 s of 1080p: ~620 MB raw) stay x264 -qp 0. Both are lossless: the same pixels.
RAW_REFERENCE_BYTES = 256 * 2**20
#: coarse-to-fine (issue 14, target 3): the largest size is trialled in a later round only when the first round's top
#: rung sits on the next size at this share or more of that size's dearest trial rate (its curve ends near the top,
#: so a larger size may overtake it there), or the top still climbs (see :func:`next_trials`).
NEAR_END = 0.75
#: at most this many rounds after the first (the second adds sizes, a third can extend a size the second added).
MAX_MORE_ROUNDS = 2
#: bounds of the rate calibration (:func:`calibrate`): a ratio outside them means the probe or the sample trial
#: is broken (a few kb/s of a still picture), not that the sample is that unrepresentative.
CALIBRATION_BOUNDS = (0.2, 5.0)

Log = Callable[[str], None]


@dataclass
class Analysis:
    """What the trials measured and what was chosen (stored with the title as JSON)."""

    windows: list[tuple[float, float]]
    score_size: tuple[int, int]
    points: list[TrialPoint]
    picks: list[Pick]
    max_kbps: float | None
    seconds: dict[str, float] = field(default_factory=dict)
    crfs: tuple[int, ...] = TRIAL_CRFS
    crf_capped: bool = False  # rungs encoded with capped CRF (titles shorter than CRF_CAP_SECONDS)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU of the ffmpeg/ffprobe children per step
    rate_scale: float = 1.0  # the title's rate over the sample's at the calibration point (see calibrate)
    calibration_windows: list[tuple[float, float]] = field(default_factory=list)  # [] when the sample is the title
    calibration_kbps: float | None = None  # the calibration encode's rate (trial_kbps), the scale's numerator
    rounds: list[list[list[int]]] = field(default_factory=list)  # the trials scored in each round, [w, h, crf]

    @property
    def wall_seconds(self) -> float:
        return sum(self.seconds.values())

    def to_dict(self) -> dict:
        return {
            "method": "per-title (trial CRF encodes, VMAF v0.6.1, rate-quality hull)",
            "windows": [list(w) for w in self.windows], "crfs": list(self.crfs),
            "score_size": list(self.score_size), "max_kbps": self.max_kbps,
            "points": [{"width": p.width, "height": p.height, "crf": p.crf, "kbps": round(p.kbps, 1),
                        "vmaf": round(p.vmaf, 3)} for p in self.points],
            "hull": [[p.width, p.height, p.crf] for p in hull_points(self.points)],
            "picks": [p.to_dict() for p in self.picks],
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "cpu_seconds": {k: round(v, 2) for k, v in self.cpu_seconds.items()},
            "rate_control": "capped CRF" if self.crf_capped else "constrained VBR",
            "rate_scale": round(self.rate_scale, 4),
            "calibration_windows": [list(w) for w in self.calibration_windows],
            "calibration_kbps": None if self.calibration_kbps is None else round(self.calibration_kbps, 1),
            "rounds": self.rounds,
        }


def _child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes (the ffmpeg/ffprobe runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _even(x: float) -> int:
    return max(2, int(x // 2) * 2)


def score_size(info: SourceInfo) -> tuple[int, int]:
    """The display size capped to :data:`SCORE_BOX` (turned upright for portrait), even."""
    w, h = info.display_width, info.display_height
    bw, bh = SCORE_BOX if w >= h else SCORE_BOX[::-1]
    s = min(1.0, bw / w, bh / h)
    return _even(w * s), _even(h * s)


def _fps(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def _conform_chain(info: SourceInfo) -> str:
    """The final encode's conform steps (deinterlace, flatten alpha) as a filter-chain prefix ("" when none)."""
    return "".join(f"{name}=" + ":".join(f"{k}={v}" for k, v in opts.items()) + "," for name, opts in conform_steps(info))


@dataclass(frozen=True)
class CalibrationSpec:
    """The rate-calibration encode made alongside the reference (see :func:`make_reference`): ``windows`` (one per
    sample window, each containing it; :func:`per_title.calibration_windows`) encoded at ``size`` (w, h, fps) and
    ``crf`` like a trial (same preset, GOP, one thread), an IDR forced at every join."""

    windows: Sequence[tuple[float, float]]
    size: tuple[int, int, Fraction]
    crf: int
    keyint_seconds: float
    out: Path
    preset: str = DEFAULT_PRESET


def make_reference(info: SourceInfo, windows: Sequence[tuple[float, float]], size: tuple[int, int], fps: Fraction,
                   out: Path, timeout: float | None = None, *, calibration: CalibrationSpec | None = None) -> Path:
    """The sampled windows at ``fps`` and ``size``, joined into one lossless file (raw pictures when ``out`` ends in
    ``.nut``, else x264 ``-qp 0``). With ``calibration``, the same
    ffmpeg run (one decode of the master) also encodes the calibration windows (each sample window is cut out of
    its calibration window) into ``calibration.out``."""
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    inputs = calibration.windows if calibration else windows
    if calibration and len(calibration.windows) != len(windows):
        raise ValueError("one calibration window per sample window is needed")
    for start, length in inputs:
        argv += ["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", str(info.path)]
    # the final encode's conform steps (deinterlace, flatten alpha) so the trials see what it sees
    pre = _conform_chain(info)
    tail = f"scale={size[0]}:{size[1]}:flags=bicubic,setsar=1,format=yuv420p"
    parts = []
    for i, (start, length) in enumerate(windows):
        src = f"[{i}:{info.video_stream_index}]{pre}"
        if calibration:
            cw, ch, cfps = calibration.size
            c_start = calibration.windows[i][0]
            parts.append(f"{src}split=2[a{i}][b{i}]")
            parts.append(f"[b{i}]fps={_fps(cfps)}:start_time=0,scale={cw}:{ch}:flags=bicubic,setsar=1,"
                         f"format=yuv420p[c{i}]")
            src = f"[a{i}]trim=start={start - c_start:.3f}:duration={length:.3f},setpts=PTS-STARTPTS,"
        parts.append(f"{src}fps={_fps(fps)}:start_time=0,{tail}[w{i}]")
    joined = "".join(f"[w{i}]" for i in range(len(windows)))
    parts.append(f"{joined}concat=n={len(windows)}:v=1:a=0[ref]")
    # lossless either way: raw pictures in NUT (``.nut``: no encode, near-free decodes in every later run) or x264 -qp 0
    codec = ["rawvideo"] if out.suffix == ".nut" else ["libx264", "-preset", "ultrafast", "-qp", "0"]
    outputs = ["-map", "[ref]", "-c:v", *codec, "-an", str(out)]
    if calibration:
        cfps = calibration.size[2]
        parts.append("".join(f"[c{i}]" for i in range(len(windows))) + f"concat=n={len(windows)}:v=1:a=0[cal]")
        joins = [sum(length for _, length in calibration.windows[:i]) for i in range(1, len(windows))]
        outputs += _trial_output("[cal]", calibration.crf, cfps, calibration.keyint_seconds, calibration.preset,
                                 joins, calibration.out)
    argv += ["-filter_complex", ";".join(parts), *outputs]
    run_tool(argv, timeout=timeout)
    return out


def trial_crfs(sizes: Sequence[tuple[int, int, Fraction]], crfs: Sequence[int] = TRIAL_CRFS
               ) -> list[tuple[int, ...]]:
    """The CRF points of each size (see :data:`SMALL_SIDE`; a size between close neighbours keeps its two lowest,
    :func:`_between`); every size keeps at least two."""
    out = []
    for i, (w, h, _) in enumerate(sizes):
        pick = list(crfs)
        if len(pick) > 2 and i == len(sizes) - 1 and len(sizes) > 1:
            pick = pick[:-1]
        elif len(pick) > 2 and min(w, h) <= SMALL_SIDE:
            pick = pick[1:]
        elif len(pick) > 2 and _between(sizes, i):
            pick = pick[:-1]
        out.append(tuple(pick))
    return out


def _trial_output(label: str, crf: int, fps: Fraction, keyint_seconds: float, preset: str,
                  key_times: Sequence[float], path: Path) -> list[str]:
    """ffmpeg output arguments of one trial encode of filter output ``label``: x264 at ``crf`` with the
    production preset and a closed GOP of ``keyint_seconds``, one thread, IDRs forced at ``key_times``."""
    keyint = max(1, round(keyint_seconds * float(fps)))
    return ["-map", label, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
            "-g", str(keyint), "-keyint_min", str(keyint), "-sc_threshold", "0", "-flags", "+cgop",
            *(["-force_key_frames", ",".join(f"{t:.3f}" for t in key_times)] if key_times else []),
            "-threads", "1", "-an", str(path)]


def encode_trials(reference: Path, sizes: Sequence[tuple[int, int, Fraction]], crfs: Sequence[Sequence[int]],
                  top_fps: Fraction, keyint_seconds: float, out_dir: Path, *, preset: str = DEFAULT_PRESET,
                  key_times: Sequence[float] = (), timeout: float | None = None) -> dict[tuple[int, int, int], Path]:
    """Every size x its CRFs (``crfs[i]`` for ``sizes[i]``) from one decode of the reference;
    returns {(w, h, crf): path}. ``key_times``: IDRs forced there (the starts of the joined sample
    windows, so a join costs an IDR that :func:`trial_kbps` can weigh, not a hidden scene cut)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"[0:v]split={len(sizes)}" + "".join(f"[s{i}]" for i in range(len(sizes)))]
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(reference)]
    outputs: dict[tuple[int, int, int], Path] = {}
    maps: list[str] = []
    for i, (w, h, fps) in enumerate(sizes):
        chain = f"fps={_fps(fps)}," if fps != top_fps else ""
        parts.append(f"[s{i}]{chain}scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p,split={len(crfs[i])}"
                     + "".join(f"[t{i}_{j}]" for j in range(len(crfs[i]))))
        for j, crf in enumerate(crfs[i]):
            path = out_dir / f"trial_{w}x{h}_crf{crf}.mp4"
            outputs[(w, h, crf)] = path
            maps += _trial_output(f"[t{i}_{j}]", crf, fps, keyint_seconds, preset, key_times, path)
    argv += ["-filter_complex", ";".join(parts), *maps]
    run_tool(argv, timeout=timeout)
    return outputs


def key_frame_before(info: SourceInfo, t: float, timeout: float | None = 30) -> float | None:
    """The key frame an input seek to ``t`` s (ffmpeg's ``-ss``, counted from the file's start) lands on, in the
    same timeline, read from the container's index by ffprobe (no decoding). None when it cannot tell: no index,
    the first packet after the seek not flagged key, or ffprobe failing (the window then stays where it is)."""
    argv = [ffprobe_bin(), "-v", "error", "-select_streams", str(info.video_stream_index), "-read_intervals",
            f"{t + info.start_time:.6f}%+#1", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0",
            str(info.path)]
    try:
        res = run_tool(argv, timeout=timeout)
    except MediaToolError:
        return None
    for line in res.stdout.split():
        pts, _, flags = line.partition(",")
        try:
            key = float(pts) - info.start_time
        except ValueError:
            continue
        return key if "K" in flags and key <= t + 1e-6 else None
    return None


def video_kbps(path: Path, duration: float) -> float:
    """Average video bitrate of a file from its packet sizes (container overhead excluded)."""
    res = run_tool([ffprobe_bin(), "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size",
                    "-of", "csv=p=0", str(path)], timeout=120)
    total = sum(int(x) for x in res.stdout.split() if x.strip().isdigit())
    return total * 8 / duration / 1000 if duration > 0 else 0.0


def _packets(path: Path) -> list[tuple[int, bool]]:
    """(size, key frame) of every video packet of ``path``."""
    res = run_tool([ffprobe_bin(), "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size,flags",
                    "-of", "csv=p=0", str(path)], timeout=120)
    out = []
    for line in res.stdout.split():
        size, _, flags = line.partition(",")
        if size.isdigit():
            out.append((int(size), "K" in flags))
    return out


def trial_kbps(path: Path, seconds: float, idr_per_second: float) -> float:
    """A trial's video bitrate as the title's encode would spend it: its IDR frames (one per sample
    window, forced) weighted to the production IDR rate, ``idr_per_second`` (one per GOP), plus all
    other frames. Short windows hold far more IDRs per second than the title, which inflated the
    trial rates at low quality (an IDR can be half of a 1 s window's bits at 234p)."""
    key = other = 0
    n_key = 0
    for size, is_key in _packets(path):
        if is_key:
            key += size
            n_key += 1
        else:
            other += size
    if seconds <= 0:
        return 0.0
    if n_key:
        key = key / n_key * idr_per_second * seconds
    return (key + other) * 8 / seconds / 1000


def calibration_kbps(spec: CalibrationSpec, idr_per_second: float) -> float:
    """The title's rate at the calibration point, from the calibration encode made by :func:`make_reference`:
    measured like a trial (:func:`trial_kbps`: its forced IDRs weighted to the title's IDR rate) over its own
    frames (0.0 when it has none)."""
    frames = len(_packets(spec.out))
    return trial_kbps(spec.out, frames / float(spec.size[2]), idr_per_second) if frames else 0.0


def calibrate(title_kbps: float, sample_kbps: float, bounds: tuple[float, float] = CALIBRATION_BOUNDS) -> float:
    """The factor every trial rate is scaled by: the title's rate over the sample's at the same point, within
    ``bounds`` (1.0 when either rate is unknown)."""
    if title_kbps <= 0 or sample_kbps <= 0:
        return 1.0
    return min(bounds[1], max(bounds[0], title_kbps / sample_kbps))


def worth_scoring(rates: dict[tuple[int, int, int], float], max_kbps: float | None) -> list[tuple[int, int, int]]:
    """The trials worth a VMAF score: per size, every trial up to the first one at or above the rate cap (it
    closes the curve at the cap); the dearer ones can neither be a rung nor move one (a rung never exceeds
    the cap, and the flat-part check looks 10 % below a rung's rate). Scoring is most of the analysis' CPU
    (~0.5 CPU s per 1080p trial of 25 frames) and low-bitrate masters put their CRF 20 trials far above the cap."""
    if not max_kbps:
        return list(rates)
    keep: list[tuple[int, int, int]] = []
    by_size: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for k in rates:
        by_size.setdefault(k[:2], []).append(k)
    for ks in by_size.values():
        for k in sorted(ks, key=lambda k: rates[k]):
            keep.append(k)
            if rates[k] >= max_kbps:
                break
    return [k for k in rates if k in keep]


def first_round_sizes(sizes: Sequence[tuple[int, int, Fraction]]) -> list[tuple[int, int, Fraction]]:
    """The sizes of the first trial round (coarse to fine, issue 14 target 3): every size but the smallest, the
    largest and those between close neighbours (:func:`_between`), at least two (else the largest, then every size
    comes back). The others are trialled only when the first round's hull says they can matter
    (:func:`next_trials`).

    Why these: in the session-15 run (12 clips, 138 trials) the final ladders never used the largest size, used the
    smallest only where the next size's cheapest trial stayed above the ladder's bottom, and used 432p on one clip
    (leaving it out moved that clip's predicted BD-rate by +0.1 %). Replayed on those trial points, this order
    kept the picks of 10 of 12 clips and needed 84 trials instead of 138 (bench/per_title.py, docs/media.md
    "Cost")."""
    n = len(sizes)
    if n < 3:
        return list(sizes)
    for keep_largest in (False, True):
        core = [sizes[i] for i in range(1, n if keep_largest else n - 1) if not _between(sizes, i)]
        if len(core) >= 2:
            return core
    return list(sizes)


def next_trials(points: Sequence[TrialPoint], sizes: Sequence[tuple[int, int, Fraction]],
                grid: Sequence[Sequence[int]], tried: dict[tuple[int, int], set[int]],
                crfs: Sequence[int] = TRIAL_CRFS, max_kbps: float | None = None, min_kbps: float | None = None,
                near_end: float = NEAR_END) -> list[tuple[tuple[int, int, Fraction], tuple[int, ...]]]:
    """The next round of trials, (size, CRFs) in one encode and scoring run (empty: the search is done).
    ``grid[i]``: the CRFs of ``sizes[i]`` (:func:`trial_crfs`); ``tried``: the CRFs scored so far per (w, h).

    * the smallest size, when not trialled yet and the smallest trialled size's cheapest trial costs more than
      10 % under ``min_kbps`` (the ladder's bottom): the hull does not reach the bottom rung or its flat check;
    * the largest size, when not trialled yet and either the top still climbs (:func:`per_title.top_still_rising`)
      or the top rung (:func:`per_title.find_top`) lies on the largest trialled size at ``near_end`` or more of its
      dearest trial's rate (where a larger size may overtake it);
    * complex content (the top still climbs on the largest size): that size at :data:`EXTRA_CRF_STEP` below the
      lowest CRF;
    * a size whose curve ends on the hull (:func:`per_title.curves_ending_on_hull`, a smaller size that skipped
      a CRF): its lowest CRF minus :data:`EXTRA_CRF_STEP`, so the hull's change of size is measured, not assumed.
    """
    out: dict[tuple[int, int, Fraction], set[int]] = {}
    grid_of = {s[:2]: tuple(g) for s, g in zip(sizes, grid)}
    trialled = [s for s in sizes if tried.get(s[:2])]
    curves = curves_by_size(points)
    if not trialled or not curves:
        return []
    smallest, largest = sizes[0], sizes[-1]
    first = trialled[0]
    cheapest = curves[first[:2]][0].kbps if first[:2] in curves else math.inf  # none scored: all above the cap
    if smallest not in trialled and min_kbps and cheapest > TEN_PERCENT * min_kbps:
        out.setdefault(smallest, set()).update(grid_of[smallest[:2]])
    rising = top_still_rising(points, max_kbps=max_kbps)
    if largest not in trialled:
        last = trialled[-1]
        top = find_top(curves, cap=max_kbps or math.inf)
        near = (top is not None and top[1] == last[:2] and last[:2] in curves
                and top[2] >= near_end * curves[last[:2]][-1].kbps)
        if rising or near:
            out.setdefault(largest, set()).update(grid_of[largest[:2]])
    elif rising and min(crfs) - EXTRA_CRF_STEP not in tried[largest[:2]]:
        # complex content: the curve still climbs at the lowest CRF; one more trial on the largest size
        out.setdefault(largest, set()).add(min(crfs) - EXTRA_CRF_STEP)
    for size in trialled:
        if size[:2] in set(curves_ending_on_hull(points, max_kbps=max_kbps)):
            lowest = min(tried[size[:2]])
            if lowest > min(crfs) and lowest - EXTRA_CRF_STEP not in tried[size[:2]]:
                out.setdefault(size, set()).add(lowest - EXTRA_CRF_STEP)
    return [(s, tuple(sorted(c))) for s, c in sorted(out.items(), key=lambda kv: kv[0][0] * kv[0][1]) if c]


def scoring_subsample(frames: int, most: int = VMAF_SUBSAMPLE, least_scored: int = MIN_SCORED_FRAMES) -> int:
    """libvmaf's n_subsample for a sample of ``frames``: ``most``, lowered so that at least ``least_scored`` frames
    are scored (1: every frame)."""
    return max(1, min(most, frames // least_scored))


def candidate_sizes(fixed: Sequence[Rung]) -> list[tuple[int, int, Fraction]]:
    """Distinct (width, height, fps) of the fixed ladder, smallest first."""
    seen: dict[tuple[int, int], Fraction] = {}
    for r in fixed:
        seen.setdefault((r.width, r.height), r.fps)
    return [(w, h, f) for (w, h), f in sorted(seen.items(), key=lambda kv: kv[0][0] * kv[0][1])]


def trial_sizes(sizes: Sequence[tuple[int, int, Fraction]]) -> list[tuple[int, int, Fraction]]:
    """The candidate sizes of the trials: every size of the fixed ladder, so the hull can reach every point the
    fixed ladder can (session 12 skipped 432p between 360p and 540p: the 2.4 s phone clip's fixed 432p rung
    scored 91.0 VMAF at 845 kb/s, and the per-title ladder, choosing among 360p and 540p only, spent +13 % BD-rate).
    Sizes between two close neighbours get fewer CRF points (:func:`trial_crfs`)."""
    return list(sizes)


def _between(sizes: Sequence[tuple[int, int, Fraction]], i: int) -> bool:
    """True when ``sizes[i]`` sits between neighbours at most :data:`MAX_SIZE_GAP` x apart in pixels (432p between
    360p and 540p): at high CRFs the smaller neighbour wins and at low CRFs the larger one, so only its middle
    region can add to the hull."""
    if i == 0 or i >= len(sizes) - 1:
        return False
    return (sizes[i + 1][0] * sizes[i + 1][1]) / (sizes[i - 1][0] * sizes[i - 1][1]) <= MAX_SIZE_GAP


def source_kbps(info: SourceInfo) -> float | None:
    """The source's average bitrate (container rate, else size / duration) in kb/s."""
    if info.bit_rate:
        return info.bit_rate / 1000
    if info.size_bytes and info.duration > 0:
        return info.size_bytes * 8 / info.duration / 1000
    return None


def analyse(info: SourceInfo, work: Path, *, fixed: Sequence[Rung] | None = None, crfs: Sequence[int] = TRIAL_CRFS,
            preset: str = DEFAULT_PRESET, source_rate: float | None = None, log: Log | None = None,
            timeout: float | None = None, **select_kwargs) -> Analysis:
    """Sample, trial-encode and score ``info``'s master; choose the rungs (see module docstring).

    ``source_rate``: the original master's kb/s when ``info`` is a lossless mezzanine of it (AV1).
    """
    fixed = list(fixed) if fixed is not None else plan_ladder(info)
    if not fixed:
        raise ValueError("the fixed ladder is empty: no candidate size for the trials")
    work.mkdir(parents=True, exist_ok=True)
    top_fps = max(r.fps for r in fixed)
    duration = info.video_offset + info.duration
    windows = sample_windows(max(duration, 0.1), fps=float(top_fps))
    size = score_size(info)
    seconds: dict[str, float] = {}
    ref_seconds = sum(length for _, length in windows)
    sizes = trial_sizes(candidate_sizes(fixed))
    gop = fixed[0].keyint / float(fixed[0].fps)
    key_times = [sum(length for _, length in windows[:i]) for i in range(len(windows))]
    idr_rate = math.ceil(max(duration, gop) / gop - 1e-9) / max(duration, 1e-3)
    first_crfs = trial_crfs(sizes, crfs)
    # the rate calibration (a sample shorter than the title): the calibration windows at the smallest size's first
    # CRF, encoded in the reference's ffmpeg run (one decode of the master)
    cal = (CalibrationSpec(calibration_windows(duration, windows), sizes[0], first_crfs[0][0], gop,
                           work / "calibration.mp4", preset) if ref_seconds < duration - 1e-3 else None)

    cpu: dict[str, float] = {}
    t0, c0 = time.monotonic(), _child_cpu()
    # each window read from the master starts on the key frame its seek lands on when that saves decoding more
    # than SEEK_PREROLL_MAX s of frames only to drop them (per_title.align_to_key_frames); the ffprobe runs that
    # find those key frames count in the reference step
    reads = list(cal.windows) if cal else list(windows)
    reads, windows = align_to_key_frames(reads, windows, [key_frame_before(info, start) for start, _ in reads])
    if cal:
        cal = dataclasses.replace(cal, windows=reads)
    frames = math.ceil(ref_seconds * float(top_fps)) + len(windows)
    raw_ref = frames * size[0] * size[1] * 3 // 2 <= RAW_REFERENCE_BYTES
    ref = make_reference(info, windows, size, top_fps, work / ("reference.nut" if raw_ref else "reference.mp4"),
                         timeout=timeout, calibration=cal)
    seconds["reference"], cpu["reference"] = time.monotonic() - t0, _child_cpu() - c0
    scale = [1.0]
    cal_kbps: list[float] = []
    subsample = scoring_subsample(round(ref_seconds * float(top_fps)))
    files: dict[tuple[int, int, int], Path] = {}  # every trial encoded so far
    raw: dict[tuple[int, int, int], float] = {}  # their uncalibrated rates
    tried: dict[tuple[int, int], set[int]] = {}  # the CRFs scored so far per size
    rounds: list[list[tuple[int, int, int]]] = []

    def add(d: dict[str, float], k: str, v: float) -> None:
        d[k] = d.get(k, 0.0) + v

    def run(step: str, vmaf_step: str, sizes_: Sequence[tuple[int, int, Fraction]], crfs_: Sequence[Sequence[int]],
            unscored: Sequence[tuple[int, int, int]] = ()) -> list[TrialPoint]:
        """Encode ``sizes_`` x ``crfs_`` (those not encoded yet) and score them, except ``unscored``."""
        todo = [(s, tuple(c for c in cs if (s[0], s[1], c) not in files)) for s, cs in zip(sizes_, crfs_)]
        todo = [(s, cs) for s, cs in todo if cs]
        t0, c0 = time.monotonic(), _child_cpu()
        if todo:
            made = encode_trials(ref, [s for s, _ in todo], [cs for _, cs in todo], top_fps, gop, work / "trials",
                                 preset=preset, key_times=key_times, timeout=timeout)
            files.update(made)
            raw.update({k: trial_kbps(path, ref_seconds, idr_rate) for k, path in made.items()})
        if cal is not None and not cal_kbps:
            cal_kbps.append(calibration_kbps(cal, idr_rate))
            scale[0] = calibrate(cal_kbps[0], raw.get((cal.size[0], cal.size[1], cal.crf), 0.0))
        add(seconds, step, time.monotonic() - t0)
        add(cpu, step, _child_cpu() - c0)
        wanted = [(s[0], s[1], c) for s, cs in zip(sizes_, crfs_) for c in cs if (s[0], s[1], c) not in unscored]
        rates = {k: raw[k] * scale[0] for k in wanted}
        t0, c0 = time.monotonic(), _child_cpu()
        keys = worth_scoring(rates, max_kbps)
        scores = vmaf_scores(ref, [files[k] for k in keys], size[0], size[1], top_fps, subsample=subsample,
                             timeout=timeout)
        add(seconds, vmaf_step, time.monotonic() - t0)
        add(cpu, vmaf_step, _child_cpu() - c0)
        for w, h, c in wanted:
            tried.setdefault((w, h), set()).add(c)
        rounds.append(keys)
        return [TrialPoint(w, h, crf, rates[(w, h, crf)], v) for (w, h, crf), v in zip(keys, scores)]

    max_kbps = rate_cap(source_rate if source_rate is not None else source_kbps(info),
                        max(r.video_bitrate for r in fixed) / 1000, len(fixed))
    bottom = min(r.video_bitrate for r in fixed) / 1000
    select_kwargs.setdefault("min_kbps", bottom)
    # coarse to fine: the first round on the middle sizes; the calibration point (the smallest size's first CRF) is
    # encoded with it for its rate, and scored only when a later round trials that size
    first = first_round_sizes(sizes)
    grid = dict(zip(sizes, first_crfs))
    unscored: list[tuple[int, int, int]] = []
    r1_sizes, r1_crfs = list(first), [grid[s] for s in first]
    if cal is not None and cal.size not in first:
        r1_sizes.insert(0, cal.size)
        r1_crfs.insert(0, (cal.crf,))
        unscored.append((cal.size[0], cal.size[1], cal.crf))
    points = run("trials", "vmaf", r1_sizes, r1_crfs, unscored)
    if not top_still_rising(points, max_kbps=max_kbps) and find_top(curves_by_size(points),
                                                                     cap=max_kbps or math.inf) is None:
        # flat over the whole trial range (still or very simple pictures): find where fewer bits start to
        # cost quality, on the smallest and the largest size
        low = (max(crfs) + EXTRA_CRF_STEP, max(crfs) + 2 * EXTRA_CRF_STEP)
        ends = sizes[:1] + sizes[-1:] if len(sizes) > 1 else sizes[:1]
        points += run("flat_trials", "flat_vmaf", ends, [low] * len(ends))
        # near its floor x264's rate-quality curve is mispredicted most: a larger margin for the top
        select_kwargs.setdefault("top_min_drop", TOP_MIN_DROP * STILL_MARGIN)
    else:
        for _ in range(MAX_MORE_ROUNDS):
            more = next_trials(points, sizes, [grid[s] for s in sizes], tried, crfs, max_kbps,
                               select_kwargs["min_kbps"])
            if not more:
                break
            points += run("extra_trial", "extra_vmaf", [s for s, _ in more], [c for _, c in more])
    if min(info.display_width, info.display_height) >= MIN_LADDER_LINES:
        select_kwargs.setdefault("min_rungs", 2)
    picks = select_ladder(points, max_kbps=max_kbps, **select_kwargs)
    if log:
        log(f"per-title: {len(points)} trials on {ref_seconds:.1f}s of {duration:.1f}s in "
            f"{sum(seconds.values()):.1f}s; ladder " + ", ".join(f"{p.height}p@{p.kbps:.0f}k(vmaf {p.vmaf:.1f})"
                                                                  for p in picks))
    return Analysis(windows, size, points, picks, max_kbps, seconds, tuple(crfs),
                    crf_capped=duration < CRF_CAP_SECONDS, cpu_seconds=cpu, rate_scale=scale[0],
                    calibration_windows=list(cal.windows) if cal else [],
                    calibration_kbps=cal_kbps[0] if cal_kbps else None,
                    rounds=[[list(k) for k in r] for r in rounds])


def rungs_from_picks(picks: Sequence[Pick], fixed: Sequence[Rung], *, crf_capped: bool = False) -> list[Rung]:
    """Rungs for the picks, each with the fixed ladder's frame rate and audio for its size;
    ``crf_capped``: each at its pick's CRF under the same maxrate/bufsize (see :data:`CRF_CAP_SECONDS`)."""
    fps_of = {(w, h): f for w, h, f in candidate_sizes(fixed)}
    audio = fixed[0].audio_bitrate if fixed else 0
    rows = []
    for p in picks:
        kbps = int(math.ceil(p.kbps))
        rows.append((f"{min(p.width, p.height)}p_{kbps}k", p.width, p.height, kbps, fps_of[(p.width, p.height)]))
    rungs = build_rungs(rows, audio)
    if crf_capped:
        rungs = [dataclasses.replace(r, crf=round(p.crf, 2)) if p.crf is not None else r for r, p in zip(rungs, picks)]
    return rungs


def plan_per_title(info: SourceInfo, work: Path, *, log: Log | None = None, timeout: float | None = None,
                   **kwargs) -> tuple[list[Rung], Analysis]:
    """The per-title ladder of a probed master and the analysis behind it."""
    fixed = plan_ladder(info)
    analysis = analyse(info, work, fixed=fixed, log=log, timeout=timeout, **kwargs)
    return rungs_from_picks(analysis.picks, fixed, crf_capped=analysis.crf_capped), analysis


__all__ = ["key_frame_before", "RAW_REFERENCE_BYTES", "first_round_sizes", "next_trials", "NEAR_END", "Analysis", "CALIBRATION_BOUNDS", "CRF_CAP_SECONDS", "TRIAL_CRFS", "analyse", "CalibrationSpec", "calibrate", "calibration_kbps", "scoring_subsample", "candidate_sizes", "encode_trials", "make_reference",
           "plan_per_title", "rungs_from_picks", "score_size", "source_kbps", "trial_crfs", "trial_kbps", "trial_sizes", "video_kbps", "worth_scoring"]
