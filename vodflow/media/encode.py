"""Encode a ladder to H.264 + AAC renditions ready for packaging.

Two strategies produce *identical* renditions (same filter chain and encoder settings per rung):

* :func:`encode_ladder_single_process` - one ffmpeg decodes the master once and feeds every
  rung through ``split`` + per-rung ``scale`` (:func:`encode_ladder`, the production path, adds
  balanced encoder threads);
* :func:`encode_ladder_per_rung` - one ffmpeg per rung, each decoding the master again (the
  naive baseline; ``parallel=N`` runs N of them at once).

Per rung the chain is ``[bwdif] -> [premultiply] -> fps(top) -> split -> [fps(rung)] -> scale -> setsar=1
-> format=yuv420p -> setparams(BT.709)``: ffmpeg autorotates (display matrix) before the graph;
interlaced sources (probe field_order tt/bb/tb/bt, or idet) are deinterlaced by ``bwdif`` sending one
frame per field (50i -> 50p: the motion of every field is kept, and the ladder halves it for low rungs);
a picture with an alpha plane is flattened onto black (``premultiply``); ``fps`` turns VFR into CFR at
the source's cadence (repeats fill dropped frames) and starts the video at t=0 (ffmpeg already shifts
the input's start_time to 0); ``scale`` to the planned display-proportional size gives square pixels
and limited (tv) range; every rung is tagged with the source's SDR colours (:func:`rung_colour`:
its own tags, or for untagged video BT.709 from 720 lines up, else BT.601). HDR (PQ/HLG) masters
never reach this module un-tone-mapped: mezzanine.py turns them into SDR BT.709 first, and
:func:`check_sdr` refuses them.
IDRs: ``-g``/``-keyint_min`` = rung.keyint, ``-sc_threshold 0``, closed GOP and
``-force_key_frames expr:gte(n,n_forced*keyint)`` - the same instants on every rung.
Audio: the main track (probe: the default one, else the first), AAC-LC stereo 48 kHz, in its own
``audio.mp4`` (the HLS audio group), and every other track the same way in ``audio_<lang>.mp4`` (alternate
languages of the same group); 5.1/7.1 is downmixed by swresample's ITU-R BS.775 matrix (centre and
surrounds at -3 dB, LFE dropped, normalised against clipping).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import ffmpeg  # ffmpeg-python

from vodflow.media.conform import conform
from vodflow.media.ladder import Rung
from vodflow.media.probe import SourceInfo
from vodflow.media.tools import ffmpeg_bin, parse_progress_seconds, run_ffmpeg_with_progress

DEFAULT_PRESET = "veryfast"
AUDIO_FILE = "audio.mp4"


@dataclass(frozen=True)
class EncodeProgress:
    """Progress report handed to the ``progress`` callback (fraction in 0..1)."""

    fraction: float
    seconds_done: float
    total_seconds: float
    speed: float | None = None       # ffmpeg's "speed=" (content seconds per wall second)
    rung: str | None = None          # set by the per-rung strategy


ProgressCallback = Callable[[EncodeProgress], None]


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder knobs shared by every rung."""

    preset: str = DEFAULT_PRESET
    threads: int | None = None         # per decoder and (unless encoder_threads) per encoder; None: ffmpeg decides
    encoder_threads: int | None = None # x264 threads per rung, overriding ``threads`` for the encoders
    filter_threads: int | None = None  # -filter_complex_threads
    scale_flags: str = "bicubic"
    audio_bitrate: int = 128_000
    audio_channels: int = 2
    audio_sample_rate: int = 48_000
    max_duration: float | None = None  # encode only the first N seconds (excerpts, tests)
    alternate_audio: bool = True       # also encode the other audio tracks (alternate languages)


@dataclass(frozen=True)
class Rendition:
    """One encoded rung."""

    rung: Rung
    path: Path


@dataclass(frozen=True)
class AudioRendition:
    """One alternate audio track, encoded like the main one (``name`` is its package directory)."""

    name: str
    language: str | None
    path: Path


def _language(tag: object) -> str | None:
    """An ISO 639 language tag worth declaring (None for missing/'und')."""
    lang = str(tag or "").strip().lower()
    return lang if lang.isalpha() and 2 <= len(lang) <= 3 and lang != "und" else None


def alternate_tracks(info: SourceInfo) -> list[tuple[str, int, str | None]]:
    """(name, stream index, language) of every audio track but the main one: ``audio_<lang>`` or
    ``audio_<index>`` (when the language is missing or repeats)."""
    out, seen = [], {_language(info.audio_tracks[0].get("language")) if info.audio_tracks else None}
    for t in info.audio_tracks[1:]:
        lang = _language(t.get("language"))
        name = f"audio_{lang}" if lang and lang not in seen else f"audio_{t['index']}"
        seen.add(lang)
        out.append((name, int(t["index"]), lang))
    return out


def main_language(info: SourceInfo) -> str | None:
    return _language(info.audio_tracks[0].get("language")) if info.audio_tracks else None


@dataclass
class EncodeResult:
    """What an encode produced and how long it took."""

    method: str
    renditions: list[Rendition]
    audio: Path | None
    duration: float                  # seconds of content encoded
    wall_seconds: float
    commands: list[list[str]] = field(default_factory=list)
    alternates: list[AudioRendition] = field(default_factory=list)
    audio_language: str | None = None   # the main audio track's language

    @property
    def throughput(self) -> float:
        """Seconds of content per wall-clock second."""
        return self.duration / self.wall_seconds if self.wall_seconds else 0.0


def _fps_arg(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def top_frame_rate(rungs: Sequence[Rung]) -> Fraction:
    return max(r.fps for r in rungs)


def content_duration(info: SourceInfo, opts: EncodeOptions) -> float:
    """Seconds of video the renditions will last: the source's video (plus any lead-in before its
    first frame, kept for A/V sync and filled by repeating that frame), or the excerpt limit."""
    full = info.video_offset + info.duration
    return min(full, opts.max_duration) if opts.max_duration else full


def _input(info: SourceInfo, opts: EncodeOptions):
    kwargs: dict[str, object] = {}
    if opts.max_duration:
        kwargs["t"] = f"{opts.max_duration:.3f}"
    if opts.threads:
        kwargs["threads"] = opts.threads
    return ffmpeg.input(info.path, **kwargs)


#: SDR transfer functions a rung may be tagged with (anything else is replaced by the size convention).
SDR_TRANSFERS = frozenset({"bt709", "smpte170m", "bt470bg", "bt470m", "gamma22", "gamma28", "bt2020-10",
                           "bt2020-12", "iec61966-2-1", "smpte240m"})


class HdrNotToneMapped(ValueError):
    """An HDR (PQ/HLG) master was handed to the SDR encode without the tone-mapped mezzanine."""


def check_sdr(info: SourceInfo) -> None:
    """Refuse PQ/HLG sources: encoding them here would tag PQ/HLG values as BT.709 (wrong colours)."""
    if info.hdr_transfer:
        raise HdrNotToneMapped(f"{info.path} is HDR ({info.color_transfer}): encode its tone-mapped mezzanine "
                               "(vodflow.media.mezzanine.decodable_master) instead")


def rung_colour(info: SourceInfo) -> dict[str, str]:
    """setparams values for every rung: the source's SDR colour tags, no pixel conversion.

    Untagged video gets what players assume for it: BT.709 from 720 lines up, BT.601 below
    (bt470bg for 576/288-line PAL, smpte170m otherwise). HDR never gets here (:func:`check_sdr`).
    """
    short = min(info.width, info.height)
    default = "bt709" if short >= 720 else ("bt470bg" if info.height in (576, 288) else "smpte170m")
    trc = info.color_transfer if info.color_transfer in SDR_TRANSFERS else ("bt709" if default == "bt709"
                                                                             else "smpte170m")
    prim = info.color_primaries if info.color_primaries and info.color_primaries not in ("unknown", "reserved") \
        else default
    matrix = info.color_space if info.color_space and info.color_space not in ("unknown", "reserved", "gbr") \
        else default
    return {"color_primaries": prim, "color_trc": trc, "colorspace": matrix}


def _video_source(inp, info: SourceInfo, top: Fraction):
    """Decoded, autorotated, progressive, opaque video at the ladder's top CFR rate, starting at t=0."""
    v = conform(inp[f"{info.video_stream_index}"], info, per_field=True)   # bwdif, premultiply
    return v.filter("fps", fps=_fps_arg(top), start_time=0)


def _rung_chain(stream, rung: Rung, top: Fraction, opts: EncodeOptions, info: SourceInfo | None = None):
    if rung.fps != top:
        stream = stream.filter("fps", fps=_fps_arg(rung.fps))
    rng = {"in_range": {"pc": "full", "tv": "limited"}.get((info.color_range if info else None) or "", "auto"),
           "out_range": "tv"}
    stream = (stream.filter("scale", rung.width, rung.height, flags=opts.scale_flags, **rng)
              .filter("setsar", "1").filter("format", "yuv420p"))
    if info is None:
        return stream
    return stream.filter("setparams", range="tv", **rung_colour(info))


def video_output_args(rung: Rung, opts: EncodeOptions) -> dict[str, object]:
    """ffmpeg output options of one rung (H.264 High, constrained VBR or capped CRF, fixed closed GOP)."""
    args: dict[str, object] = {
        "c:v": "libx264", "preset": opts.preset, "profile:v": rung.profile, "level:v": rung.level,
        "b:v": str(rung.video_bitrate), "maxrate": str(rung.maxrate), "bufsize": str(rung.bufsize),
        "g": rung.keyint, "keyint_min": rung.keyint, "sc_threshold": 0, "flags": "+cgop",
        "force_key_frames": f"expr:gte(n,n_forced*{rung.keyint})",
        "fps_mode": "passthrough", "an": None, "sn": None, "dn": None,
        "map_metadata": -1,
    }
    if rung.crf is not None:
        # capped CRF (same maxrate/bufsize): the trial's rate control, for titles too short for VBR to settle
        del args["b:v"]
        args["crf"] = f"{rung.crf:.2f}"
    enc_threads = opts.encoder_threads or opts.threads
    if enc_threads:
        args["threads"] = enc_threads
    return args


def _audio_output(inp, info: SourceInfo, path: Path, opts: EncodeOptions, stream_index: int | None = None):
    idx = info.audio_stream_index if stream_index is None else stream_index
    a = inp[f"{idx}"].filter("aresample", **{"async": 1, "first_pts": 0})
    return ffmpeg.output(a, str(path), **{
        "c:a": "aac", "b:a": str(opts.audio_bitrate), "ac": opts.audio_channels,
        "ar": opts.audio_sample_rate, "vn": None, "sn": None, "dn": None,
        "map_metadata": -1,
    })


def _audio_outputs(inp, info: SourceInfo, out_dir: Path, opts: EncodeOptions) -> list:
    """The main audio rendition and (``opts.alternate_audio``) one per other audio track."""
    outs = [_audio_output(inp, info, out_dir / AUDIO_FILE, opts)]
    if opts.alternate_audio:
        outs += [_audio_output(inp, info, out_dir / f"{name}.mp4", opts, idx)
                 for name, idx, _ in alternate_tracks(info)]
    return outs


def _alternates(info: SourceInfo, out_dir: Path, opts: EncodeOptions) -> list[AudioRendition]:
    if not (info.has_audio and opts.alternate_audio):
        return []
    return [AudioRendition(name, lang, out_dir / f"{name}.mp4") for name, _, lang in alternate_tracks(info)]


def _compile(outputs, opts: EncodeOptions) -> list[str]:
    node = ffmpeg.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]
    gargs = ["-nostdin", "-hide_banner", "-v", "error", "-progress", "pipe:1", "-nostats"]
    if opts.filter_threads:
        gargs += ["-filter_complex_threads", str(opts.filter_threads)]
    return node.global_args(*gargs).compile(cmd=ffmpeg_bin(), overwrite_output=True)


def rendition_path(out_dir: Path, rung: Rung) -> Path:
    return out_dir / f"{rung.name}.mp4"


def build_single_process_command(info: SourceInfo, rungs: Sequence[Rung], out_dir: Path,
                                 opts: EncodeOptions = EncodeOptions()) -> list[str]:
    """argv of the one-decode ``split`` encode of every rung (+ audio)."""
    check_sdr(info)
    top = top_frame_rate(rungs)
    inp = _input(info, opts)
    branches = _video_source(inp, info, top).filter_multi_output("split", len(rungs))
    outputs = [ffmpeg.output(_rung_chain(branches.stream(i), r, top, opts, info), str(rendition_path(out_dir, r)),
                             **video_output_args(r, opts)) for i, r in enumerate(rungs)]
    if info.has_audio:
        outputs += _audio_outputs(inp, info, out_dir, opts)
    return _compile(outputs, opts)


def build_rung_command(info: SourceInfo, rung: Rung, out_dir: Path, opts: EncodeOptions = EncodeOptions(),
                       *, with_audio: bool = False, top: Fraction | None = None) -> list[str]:
    """argv of one rung decoded and encoded on its own (optionally also writing the audio)."""
    check_sdr(info)
    top = top or rung.fps
    inp = _input(info, opts)
    v = _rung_chain(_video_source(inp, info, top), rung, top, opts, info)
    outputs = [ffmpeg.output(v, str(rendition_path(out_dir, rung)), **video_output_args(rung, opts))]
    if with_audio and info.has_audio:
        outputs += _audio_outputs(inp, info, out_dir, opts)
    return _compile(outputs, opts)


def _reporter(total: float, progress: ProgressCallback | None, rung: str | None = None,
              combine: Callable[[str | None, float], float] | None = None):
    def on_block(block: dict[str, str]) -> None:
        if progress is None:
            return
        done = parse_progress_seconds(block)
        if done is None:
            return
        done = min(done, total)
        speed_s = block.get("speed", "").rstrip("x")
        try:
            speed = float(speed_s)
        except ValueError:
            speed = None
        fraction = combine(rung, done) if combine else (done / total if total else 1.0)
        if block.get("progress") == "end" and not combine:
            fraction = 1.0
        progress(EncodeProgress(min(1.0, fraction), done, total, speed, rung))
    return on_block


def _check_rungs(rungs: Sequence[Rung]) -> None:
    if not rungs:
        raise ValueError("empty ladder: nothing to encode")
    names = [r.name for r in rungs]
    if len(set(names)) != len(names):
        raise ValueError(f"rung names must be unique: {names}")


def encode_ladder_single_process(
    info: SourceInfo, rungs: Sequence[Rung], out_dir: str | Path, *,
    options: EncodeOptions = EncodeOptions(), progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> EncodeResult:
    """Decode once, ``split`` to every rung in a single ffmpeg process."""
    _check_rungs(rungs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = content_duration(info, options)
    argv = build_single_process_command(info, rungs, out, options)
    t0 = time.monotonic()
    run_ffmpeg_with_progress(argv, _reporter(total, progress), timeout=timeout)
    wall = time.monotonic() - t0
    return EncodeResult("single_process", [Rendition(r, rendition_path(out, r)) for r in rungs],
                        out / AUDIO_FILE if info.has_audio else None, total, wall, [argv],
                        _alternates(info, out, options), main_language(info))


def encode_ladder_per_rung(
    info: SourceInfo, rungs: Sequence[Rung], out_dir: str | Path, *,
    options: EncodeOptions = EncodeOptions(), progress: ProgressCallback | None = None,
    parallel: int = 1, timeout: float | None = None,
) -> EncodeResult:
    """One ffmpeg per rung, each decoding the master (audio rides with the first rung).

    ``parallel`` > 1 runs that many processes at once (the "parallel rungs" variant).
    Progress is the mean of the per-rung fractions.
    """
    _check_rungs(rungs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = content_duration(info, options)
    top = top_frame_rate(rungs)
    argvs = [build_rung_command(info, r, out, options, with_audio=(i == 0), top=top) for i, r in enumerate(rungs)]
    done: dict[str, float] = {r.name: 0.0 for r in rungs}
    lock = threading.Lock()

    def combine(name: str | None, seconds: float) -> float:
        with lock:
            done[str(name)] = seconds
            return sum(done.values()) / (total * len(done)) if total else 1.0

    def run_one(i: int) -> None:
        run_ffmpeg_with_progress(argvs[i], _reporter(total, progress, rungs[i].name, combine), timeout=timeout)

    t0 = time.monotonic()
    if parallel <= 1:
        for i in range(len(rungs)):
            run_one(i)
    else:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for fut in [pool.submit(run_one, i) for i in range(len(rungs))]:
                fut.result()
    wall = time.monotonic() - t0
    if progress is not None:
        progress(EncodeProgress(1.0, total, total, None, None))
    method = "per_rung" if parallel <= 1 else f"per_rung_parallel{parallel}"
    return EncodeResult(method, [Rendition(r, rendition_path(out, r)) for r in rungs],
                        out / AUDIO_FILE if info.has_audio else None, total, wall, argvs,
                        _alternates(info, out, options), main_language(info))


def balanced_encoder_threads(n_rungs: int, cores: int | None = None) -> int:
    """x264 threads per rung so that all rungs together use about one thread per core.

    In the single-process encode the rungs already run in parallel; giving each x264 its default
    1.5 x cores frame threads on top oversubscribes small machines (and frame threading costs a
    little quality and CPU). 2 cores, 7 rungs -> 1 thread each; 32 cores, 9 rungs -> 3.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, n_rungs))


def encode_ladder(info: SourceInfo, rungs: Sequence[Rung], out_dir: str | Path, *,
                  options: EncodeOptions = EncodeOptions(), progress: ProgressCallback | None = None,
                  timeout: float | None = None) -> EncodeResult:
    """The production encode: single process with ``split`` and balanced encoder threads.

    This was the fastest variant in bench/encode_ladder.py (docs/benchmarks-encode.md). Explicit
    ``options.threads`` / ``options.encoder_threads`` are respected.
    """
    if options.threads is None and options.encoder_threads is None:
        options = replace(options, encoder_threads=balanced_encoder_threads(len(rungs)))
    return encode_ladder_single_process(info, rungs, out_dir, options=options, progress=progress, timeout=timeout)


__all__ = ["AUDIO_FILE", "AudioRendition", "EncodeOptions", "alternate_tracks", "balanced_encoder_threads",
           "EncodeProgress", "EncodeResult", "Rendition",
           "build_rung_command", "build_single_process_command", "encode_ladder",
           "encode_ladder_per_rung", "encode_ladder_single_process", "video_output_args"]
