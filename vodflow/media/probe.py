"""Probe a master with ffprobe and validate it before anything is encoded.

:func:`probe` turns ffprobe's JSON into a :class:`SourceInfo` (pure data, no judgement);
:func:`validate_source` decides whether the file is an acceptable video master and raises
:class:`InvalidSourceError` with a human reason (and a machine ``code``) when it is not.
The header is not trusted: validation decodes samples at the start, middle and end, and only real
decode errors (and truncation) count, not muxer/timestamp warnings (:func:`classify_decode_log`).
Probe also reports what later steps need to handle a master on purpose: the interlacing
(``field_order``, idet when the stream does not say), the colour (PQ/HLG), the VFR cadence and
every audio track (the default one is the main rendition).
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python

from vodflow.media.tools import MediaToolError, can_decode, ffmpeg_bin, ffprobe_bin, run_tool, tone_map_ffmpeg

#: Demuxers that read single pictures, not video (ffprobe "succeeds" on a renamed PNG).
IMAGE_FORMATS = frozenset({
    "image2", "image2pipe", "png_pipe", "jpeg_pipe", "jpegls_pipe", "webp_pipe", "bmp_pipe",
    "gif_pipe", "tiff_pipe", "psd_pipe", "svg_pipe", "dds_pipe", "dpx_pipe", "exr_pipe", "j2k_pipe",
    "pam_pipe", "pbm_pipe", "pcx_pipe", "pgm_pipe", "pgmyuv_pipe", "ppm_pipe", "qdraw_pipe",
    "sgi_pipe", "sunrast_pipe", "xbm_pipe", "xpm_pipe", "xwd_pipe", "hdr_pipe", "jpegxl_pipe",
    "qoi_pipe", "pictor_pipe", "photocd_pipe", "vbn_pipe", "gem_pipe", "pfm_pipe", "cri_pipe",
})
#: Picture codecs: a video stream with one of these is a still image (or cover art).
IMAGE_CODECS = frozenset({"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "jpegls",
                          "ppm", "pgm", "pam", "qoi", "jpegxl"})

#: How the plain reasons name the files an uploader can send instead.
SEND_FORMATS = "MP4, MOV, MKV or MPEG-TS (.ts/.mts/.m2ts)"

#: ffprobe field_order values of interlaced video (t = top field first; "tb"/"bt": coded in the other order).
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
#: ffprobe color_transfer values of HDR video.
HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}
#: Codecs that have no interlaced coding: idet is never run on them.
PROGRESSIVE_ONLY_CODECS = frozenset({"vp8", "vp9", "av1", "theora", "png", "gif", "webp"})

#: Containers without a seek index (MPEG-TS incl. .mts/.m2ts, MPEG-PS .mpg/.vob, raw elementary streams):
#: seeking is by byte position and may land far from a keyframe.
UNINDEXED_CONTAINERS = frozenset({"mpegts", "mpeg", "mpegvideo", "h264", "hevc", "m4v", "vob"})

DEFAULT_MAX_DURATION = 4 * 3600.0  # seconds
DEFAULT_MIN_DURATION = 0.5
DEFAULT_MAX_LONG_SIDE = 4096        # DCI 4K; display pixels, after rotation and SAR
DEFAULT_MAX_SHORT_SIDE = 2160


class InvalidSourceError(ValueError):
    """The upload is not an acceptable video master.

    ``reason`` is one plain sentence for the uploader: what is wrong and what to send instead, with no
    tool output or server path in it. ``code`` is a stable slug for machines: empty, missing,
    unreadable, not_video, audio_only, no_dimensions, too_short, too_long, too_large, truncated,
    undecodable, unsupported_codec, hdr_unsupported. ``details`` holds what the tools said (ffprobe /
    ffmpeg lines, paths): for the task log only, never for the API.
    """

    def __init__(self, reason: str, code: str = "invalid", details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.details = details


def _fraction(text: Any) -> Fraction | None:
    """'30000/1001' / '1:1' / '25' -> Fraction; None for 0/0, N/A, 0:1 and the like."""
    if text is None:
        return None
    s = str(text).strip().replace(":", "/")
    try:
        f = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


def _float(text: Any) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def bit_depth_of(pix_fmt: str | None, bits_per_raw_sample: Any = None) -> int:
    """Bits per component from an ffmpeg pix_fmt name (yuv420p10le -> 10, rgb48le -> 16)."""
    raw = _float(bits_per_raw_sample)
    if raw and raw >= 8:
        return int(raw)
    if not pix_fmt:
        return 8
    m = re.search(r"p(\d{1,2})(le|be)?$", pix_fmt) or re.search(r"^gray(\d{1,2})(le|be)?$", pix_fmt)
    if m:
        return int(m.group(1))
    m = re.search(r"^(?:rgb|bgr)(48|64)", pix_fmt) or re.search(r"^(?:rgba|bgra)(64)", pix_fmt)
    if m:
        return 16
    return 8


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise degrees (0/90/180/270) a player turns the picture for display.

    Reads the display-matrix side data (ffprobe reports it counter-clockwise, e.g. -90) and
    falls back to the legacy ``rotate`` tag (clockwise) that older muxers wrote.
    """
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd and str(sd.get("side_data_type", "")).lower().startswith("display matrix"):
            rot = _float(sd["rotation"])
            if rot is not None:
                return int(round(-rot / 90.0)) * 90 % 360
    tag = (stream.get("tags") or {}).get("rotate")
    rot = _float(tag)
    if rot is not None:
        return int(round(rot / 90.0)) * 90 % 360
    return 0


@dataclass(frozen=True)
class SourceInfo:
    """What ffprobe says about a master (first video stream and first audio stream).

    ``width``/``height`` are the coded picture; ``display_width``/``display_height`` are what
    a viewer sees: SAR applied to the width, then swapped for 90/270 degree rotation.
    """

    path: str
    size_bytes: int
    container: str                 # ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float                # seconds of video (stream duration, else format, else packets)
    start_time: float              # first timestamp of the file (non-zero: edit lists, TS captures)
    video_codec: str
    video_profile: str | None
    width: int
    height: int
    sar: Fraction
    rotation: int                  # clockwise degrees to display
    display_width: int
    display_height: int
    pix_fmt: str | None
    bit_depth: int
    r_frame_rate: Fraction | None
    avg_frame_rate: Fraction | None
    fps: float                     # nominal rate: see nominal_frame_rate()
    is_vfr: bool
    nb_frames: int | None
    has_audio: bool
    audio_codec: str | None = None
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    video_stream_index: int = 0
    audio_stream_index: int | None = None
    bit_rate: int | None = None
    has_alpha: bool = False
    video_start_time: float | None = None  # first video timestamp (may lag start_time: A/V offset)
    frame_rate: Fraction | None = None     # ``fps`` as an exact fraction (30000/1001)
    tags: dict[str, str] = field(default_factory=dict)
    field_order: str | None = None         # progressive / tt / bb / tb / bt (stream, else idet), None unknown
    field_order_source: str | None = None  # "stream" or "idet"
    color_transfer: str | None = None      # e.g. bt709, smpte2084 (PQ), arib-std-b67 (HLG)
    color_primaries: str | None = None
    color_space: str | None = None         # matrix: bt709, bt470bg, smpte170m, bt2020nc, ...
    color_range: str | None = None         # tv / pc
    audio_tracks: list[dict[str, Any]] = field(default_factory=list)  # every audio stream, the chosen one first

    @property
    def is_interlaced(self) -> bool:
        return self.field_order in INTERLACED_FIELD_ORDERS

    @property
    def hdr_transfer(self) -> str | None:
        """"pq" or "hlg" for an HDR transfer function, else None."""
        return HDR_TRANSFERS.get(self.color_transfer or "")

    @property
    def video_offset(self) -> float:
        """How long after the file's start the first video frame is shown (kept in the output)."""
        if self.video_start_time is None:
            return 0.0
        return max(0.0, self.video_start_time - self.start_time)

    @property
    def display_aspect(self) -> float:
        return self.display_width / self.display_height

    @property
    def is_portrait(self) -> bool:
        return self.display_height > self.display_width

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (Fractions as 'n/d' strings) for XCom / the catalog."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Fraction):
                d[k] = f"{v.numerator}/{v.denominator}"
        return d


def ffprobe_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Raw ``ffprobe -show_format -show_streams`` JSON (raises ffmpeg.Error on failure)."""
    return ffmpeg.probe(str(path), cmd=ffprobe_bin())


def _packet_times(path: str, stream_index: int, read_intervals: str | None = None) -> list[tuple[float, float]]:
    """(pts, duration) of the video packets, in seconds, optionally only within ``read_intervals``."""
    argv = [ffprobe_bin(), "-v", "error", "-select_streams", str(stream_index),
            "-show_entries", "packet=pts_time,duration_time", "-of", "json"]
    if read_intervals:
        argv += ["-read_intervals", read_intervals]
    res = run_tool(argv + [path], check=False, timeout=600)
    try:
        packets = json.loads(res.stdout or "{}").get("packets", [])
    except json.JSONDecodeError:
        return []
    out = []
    for p in packets:
        pts = _float(p.get("pts_time"))
        if pts is not None:
            out.append((pts, _float(p.get("duration_time")) or 0.0))
    return out


def nominal_frame_rate(r_rate: Fraction | None, avg_rate: Fraction | None, is_vfr: bool) -> Fraction | None:
    """The rate to encode from: for CFR, r_frame_rate when it is within 5 % of the average.

    avg_frame_rate is frames/duration, so gaps (a looped or spliced master, a dropped frame) pull
    it below the real rate (25 -> 24.87); r_frame_rate is the stream's timestamp cadence. When the
    two disagree by more than 5 % (r = field rate 50 for 25 fps interlaced, r = 90000 timebase),
    or the stream is VFR, the average is the better estimate.
    """
    sane_r = r_rate if r_rate is not None and float(r_rate) <= 1000 else None
    if not is_vfr and sane_r is not None and (avg_rate is None or abs(float(sane_r / avg_rate) - 1) < 0.05):
        return sane_r
    if avg_rate is not None and float(avg_rate) <= 1000:
        return avg_rate
    return sane_r


def _rate_from_packets(pts: list[float]) -> Fraction | None:
    """Average frame rate of a run of packet timestamps (None if too few)."""
    if len(pts) < 3:
        return None
    span = max(pts) - min(pts)
    return Fraction(len(pts) - 1) / Fraction(span).limit_denominator(100000) if span > 0 else None


def detect_vfr(pts: list[float], r_rate: Fraction | None, avg_rate: Fraction | None) -> bool:
    """Variable frame rate if packet intervals jitter, or (without packets) r_frame_rate != avg_frame_rate.

    Intervals are compared to their median with a tolerance of 10 % plus 1.5 ms (container
    timebases such as Matroska's 1 ms make a CFR 29.97 stream alternate 33/34 ms).
    """
    ts = sorted(pts)
    diffs = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    if len(diffs) >= 4:
        med = statistics.median(diffs)
        off = sum(1 for d in diffs if abs(d - med) > 0.10 * med + 0.0015)
        return off > max(1, 0.05 * len(diffs))
    if r_rate and avg_rate:
        return abs(float(r_rate) - float(avg_rate)) / float(avg_rate) > 0.01
    return False


def main_audio(audios: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The audio stream the ladder carries: the one marked default, else the first."""
    for s in audios:
        if (s.get("disposition") or {}).get("default"):
            return s
    return audios[0] if audios else None


def cadence_rate(pts: list[float]) -> Fraction | None:
    """Frame rate of the stream's own cadence: 1 / the median interval between frames.

    For a VFR master that drops frames (a film at 23.976 with 160 frames in 10 s) the average
    rate says 16 fps; the intervals between the frames that are there are still 1/23.976 s.
    """
    ts = sorted(pts)
    diffs = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    if len(diffs) < 4:
        return None
    return Fraction(1) / Fraction(statistics.median(diffs)).limit_denominator(100000)


def detect_field_order(path: str, stream_index: int, frames: int = 120) -> str:
    """"tt", "bb" or "progressive" from ffmpeg's idet filter over the first ``frames`` frames."""
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "info", "-i", path, "-map", f"0:{stream_index}",
            "-vf", "idet", "-frames:v", str(frames), "-an", "-f", "null", "-"]
    res = run_tool(argv, check=False, timeout=300)
    # ffmpeg may print the summary of an unused first graph instance (all zeros) before the real one
    found = re.findall(r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)", res.stderr)
    if not found:
        return "progressive"
    tff, bff, prog = (int(x) for x in found[-1])
    if tff + bff > prog and tff + bff >= 10:
        return "tt" if tff >= bff else "bb"
    return "progressive"


def probe(path: str | os.PathLike[str]) -> SourceInfo:
    """Describe ``path``. Raises InvalidSourceError only when ffprobe cannot read it or it has no video."""
    p = Path(path)
    if not p.exists():
        raise InvalidSourceError("The uploaded file is missing on our side: upload the video again.", "missing",
                                 details=f"file not found: {p}")
    size = p.stat().st_size
    if size == 0:
        raise InvalidSourceError("The file is empty (0 bytes), so the upload did not complete: upload the video "
                                 "again.", "empty")
    try:
        data = ffprobe_json(p)
    except ffmpeg.Error as exc:
        msg = (exc.stderr or b"").decode("utf-8", "replace").strip()
        raise InvalidSourceError(
            "The file is not a media file we can read (it is damaged or not a video): send the original video "
            f"file, for example {SEND_FORMATS}.", "unreadable", details=f"ffprobe: {msg[-2000:]}") from exc
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    container = fmt.get("format_name", "")
    videos = [s for s in streams if s.get("codec_type") == "video"
              and not (s.get("disposition") or {}).get("attached_pic")]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        if audios:
            raise InvalidSourceError(
                f"The file has sound but no picture (an audio-only {audios[0].get('codec_name')} file): send a "
                "video file, since vodflow publishes videos only (add a still picture in a video editor if there "
                "is none).", "audio_only")
        raise InvalidSourceError(f"The file has no video stream: send a video file, for example {SEND_FORMATS}.",
                                 "not_video", details=f"container {container or 'unknown'}")
    v = videos[0]
    a = main_audio(audios)

    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    sar = _fraction(v.get("sample_aspect_ratio")) or Fraction(1)
    rotation = _rotation(v)
    disp_w = max(2, int(round(width * sar))) if width else 0
    disp_h = height
    if rotation in (90, 270):
        disp_w, disp_h = disp_h, disp_w

    r_rate = _fraction(v.get("r_frame_rate"))
    avg_rate = _fraction(v.get("avg_frame_rate"))
    start = _float(fmt.get("start_time"))
    if start is None:
        start = _float(v.get("start_time")) or 0.0

    duration = _float(v.get("duration"))
    tag_dur = (v.get("tags") or {}).get("DURATION")
    if not duration and tag_dur:  # Matroska per-stream DURATION tag, "00:00:09.017000000"
        hh, mm, ss = tag_dur.split(":")
        duration = int(hh) * 3600 + int(mm) * 60 + float(ss)
    if not duration:
        duration = _float(fmt.get("duration"))
    if duration and not _float(v.get("duration")):
        # the tag and the format duration run from the file's start: a video that starts later is shorter
        duration = max(0.0, duration - max(0.0, (_float(v.get("start_time")) or start) - start))
    path_s = str(p)
    head = [] if container in IMAGE_FORMATS else _packet_times(path_s, int(v["index"]), "%+#300")
    if not duration and container not in IMAGE_FORMATS:
        # no duration in the header (MediaRecorder WebM): demux every packet, no decoding
        pk = _packet_times(path_s, int(v["index"]))
        if pk:
            first = min(t for t, _ in pk)
            last_pts, last_dur = max(pk)
            if not last_dur and avg_rate:
                last_dur = 1 / float(avg_rate)
            duration = last_pts + last_dur - first
    duration = duration or 0.0

    is_vfr = detect_vfr([t for t, _ in head], r_rate, avg_rate)
    nominal = nominal_frame_rate(r_rate, avg_rate, is_vfr)
    if is_vfr:  # the source's own cadence, not the average that dropped frames pull down
        nominal = cadence_rate([t for t, _ in head]) or nominal
    if nominal is None:  # e.g. r = 90000/1, a timebase posing as a rate, and no average
        nominal = _rate_from_packets([t for t, _ in head]) or Fraction(25)

    field_order = v.get("field_order") if v.get("field_order") in INTERLACED_FIELD_ORDERS | {"progressive"} else None
    order_source = "stream" if field_order else None
    if field_order is None and v.get("codec_name") not in PROGRESSIVE_ONLY_CODECS and container not in IMAGE_FORMATS:
        field_order, order_source = detect_field_order(path_s, int(v["index"])), "idet"

    nb_frames = v.get("nb_frames")
    tags = {**(fmt.get("tags") or {}), **(v.get("tags") or {})}
    return SourceInfo(
        path=path_s,
        size_bytes=size,
        container=container,
        duration=float(duration),
        start_time=float(start),
        video_codec=v.get("codec_name", "unknown"),
        video_profile=v.get("profile"),
        width=width,
        height=height,
        sar=sar,
        rotation=rotation,
        display_width=disp_w,
        display_height=disp_h,
        pix_fmt=v.get("pix_fmt"),
        bit_depth=bit_depth_of(v.get("pix_fmt"), v.get("bits_per_raw_sample")),
        r_frame_rate=r_rate,
        avg_frame_rate=avg_rate,
        fps=float(nominal),
        is_vfr=is_vfr,
        nb_frames=int(nb_frames) if str(nb_frames or "").isdigit() else None,
        has_audio=a is not None,
        audio_codec=a.get("codec_name") if a else None,
        audio_channels=int(a["channels"]) if a and a.get("channels") else None,
        audio_sample_rate=int(a["sample_rate"]) if a and a.get("sample_rate") else None,
        video_stream_index=int(v["index"]),
        audio_stream_index=int(a["index"]) if a else None,
        bit_rate=int(fmt["bit_rate"]) if str(fmt.get("bit_rate") or "").isdigit() else None,
        has_alpha=str((v.get("tags") or {}).get("alpha_mode", "0")) == "1"
        or (v.get("pix_fmt") or "").startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")),
        video_start_time=_float(v.get("start_time")),
        frame_rate=nominal,
        tags={str(k): str(val) for k, val in tags.items()},
        field_order=field_order,
        field_order_source=order_source,
        color_transfer=v.get("color_transfer"),
        color_primaries=v.get("color_primaries"),
        color_space=v.get("color_space"),
        color_range=v.get("color_range"),
        audio_tracks=[{"index": int(s["index"]), "codec": s.get("codec_name"), "channels": s.get("channels"),
                       "language": (s.get("tags") or {}).get("language"),
                       "default": bool((s.get("disposition") or {}).get("default"))}
                      for s in sorted(audios, key=lambda s: s is not a)],
    )


# -- decoding -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecodeSample:
    """Result of decoding one window of the source.

    ``errors`` are the decode errors that count (see :func:`classify_decode_log`); ``log`` is every
    warning and error line ffmpeg printed, for the task log.
    """

    start: float
    length: float | None
    frames: int
    errors: list[str]
    log: list[str] = field(default_factory=list)


#: Lines that are not decode errors: the null muxer's complaints about the timestamps it is handed
#: (VFR, B-frames), ffmpeg's log folding, and what an H.264/HEVC decoder says while it waits for the
#: first keyframe after a start or a seek (a TS capture that begins mid-GOP, an open GOP): those
#: frames are skipped, not damaged.
HARMLESS_LOG = (
    "non monotonically increasing dts", "Last message repeated", "Timestamps are unset",
    "non-existing PPS", "no frame!", "Could not find ref with POC", "Missing reference picture",
    "mmco: unref short failure", "reference picture missing during reorder", "co located POCs unavailable",
    "Error constructing the frame RPS",
)
#: Log contexts on the output side (muxer, encoders, the output file): never about the source.
_OUTPUT_CONTEXTS = ("[null @", "[out#", "[vost#", "[aost#", "[wrapped_avframe @", "[pcm_s16le @")
#: Error lines that mean the data stops early (a cut-off upload) rather than damaged data.
_TRUNCATION_LOG = ("partial file", "moov atom not found", "End of file", "Invalid NAL unit size",
                   "Packet corrupt")


def classify_decode_log(stderr: str) -> tuple[list[str], list[str]]:
    """(errors that count, every warning/error line) of an ffmpeg run with ``-v level+warning``.

    Counted: ``[error]``/``[fatal]`` lines from the demuxer or the decoders. Not counted: warnings,
    output-side contexts (the null muxer), and :data:`HARMLESS_LOG`.
    """
    errors, lines = [], []
    for raw in stderr.splitlines():
        ln = raw.strip()
        if not ln:
            continue
        lines.append(ln)
        if not any(tag in ln for tag in ("[error]", "[fatal]", "[panic]")):
            continue
        if ln.startswith(_OUTPUT_CONTEXTS) or any(h in ln for h in HARMLESS_LOG):
            continue
        errors.append(ln)
    return errors, lines


def decode_sample(path: str, start: float | None, length: float | None, *, audio: bool = True,
                  timeout: float = 300) -> DecodeSample:
    """Decode ``length`` seconds from ``start`` (whole file if None) and count video frames.

    Runs with ``-v level+warning`` so every line carries its level, then keeps the real decode
    errors (:func:`classify_decode_log`); the frame count comes from ``-progress``.
    ``-fps_mode passthrough`` keeps ffmpeg from duplicating frames.
    """
    argv = [ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "level+warning", "-progress", "pipe:1", "-nostats"]
    if start:
        argv += ["-ss", f"{start:.3f}"]
    if length:
        argv += ["-t", f"{length:.3f}"]
    argv += ["-i", path, "-map", "0:v:0"]
    if audio:
        argv += ["-map", "0:a:0?"]
    argv += ["-fps_mode", "passthrough", "-f", "null", "-"]
    res = run_tool(argv, check=False, timeout=timeout)
    frames = 0
    for line in res.stdout.splitlines():
        if line.startswith("frame="):
            try:
                frames = int(line.split("=", 1)[1])
            except ValueError:
                pass
    errors, log = classify_decode_log(res.stderr)
    if res.returncode != 0 and not errors:
        errors = [f"ffmpeg exited with {res.returncode}"] + log[-3:]
    return DecodeSample(start or 0.0, length, frames, errors, log)


def _undecodable(where: str, details: str) -> InvalidSourceError:
    return InvalidSourceError(
        f"The video is damaged: its picture does not decode cleanly {where}; send an undamaged copy "
        "(export it again from the original if needed).", "undecodable", details=details)


def decode_check(info: SourceInfo, window: float = 2.0) -> list[DecodeSample]:
    """Decode the start, middle and end of the source; raise InvalidSourceError on a real failure.

    A window fails when it prints a decode error that counts (:func:`classify_decode_log`) or
    decodes no frame. The reason is a plain sentence; ffmpeg's lines go to ``details``.
    """
    d = info.duration
    if d <= 3 * window:
        plan: list[tuple[float | None, float | None]] = [(None, None)]
    else:
        plan = [(None, window), (d / 2 - window / 2, window), (max(0.0, d - window - 0.25), window)]
    samples = []
    for start, length in plan:
        s = decode_sample(info.path, start, length)
        where = "anywhere in the file" if start is None and length is None else (
            f"at {s.start:.1f}-{s.start + (length or 0):.1f} s of {d:.1f} s")
        details = "\n".join(s.errors + [ln for ln in s.log if ln not in s.errors][:20])
        if s.errors:
            if any(t in e for e in s.errors for t in _TRUNCATION_LOG):
                raise InvalidSourceError(
                    f"The file is truncated: it says it lasts {d:.1f} s but its data is cut off (the picture "
                    f"breaks {where}); upload the complete file again.", "truncated", details=details)
            raise _undecodable(where, details)
        if s.frames == 0 and start and info.container in UNINDEXED_CONTAINERS:
            # MPEG-TS/PS have no index: a seek lands between keyframes, and a stream with sparse IDRs
            # then decodes nothing until the next one. Decode from the start instead (rare: costs a decode).
            s = decode_sample(info.path, None, start + (length or 0))
            details = "\n".join(s.errors + s.log[:20])
            if s.errors:
                raise _undecodable(where, details)
        if s.frames == 0:
            raise InvalidSourceError(
                f"The file is truncated: it says it lasts {d:.1f} s but no picture decodes {where}; upload the "
                "complete file again.", "truncated", details=details)
        samples.append(s)
    total = sum(s.frames for s in samples)
    if len(plan) == 1 and total < 2:
        raise InvalidSourceError("Only a single frame decodes, so this is a still image, not a video: send a "
                                 "video file.", "not_video")
    return samples


def validate_source(
    path: str | os.PathLike[str],
    *,
    max_duration: float = DEFAULT_MAX_DURATION,
    min_duration: float = DEFAULT_MIN_DURATION,
    max_long_side: int = DEFAULT_MAX_LONG_SIDE,
    max_short_side: int = DEFAULT_MAX_SHORT_SIDE,
    decode: bool = True,
) -> SourceInfo:
    """Probe ``path`` and check it is a usable video master; return its :class:`SourceInfo`.

    Limits apply to the *display* size (after rotation and SAR), so a portrait 2160x3840
    phone video passes the same 4K limit as a landscape one.
    Raises :class:`InvalidSourceError` with a human reason otherwise.
    """
    info = probe(path)
    if info.container in IMAGE_FORMATS or (info.video_codec in IMAGE_CODECS and info.nb_frames is not None
                                           and info.nb_frames <= 1):
        raise InvalidSourceError(
            f"The file is a still image ({info.video_codec} picture), not a video, whatever its name says: send a "
            "video file.", "not_video", details=f"demuxer {info.container}")
    if info.width <= 0 or info.height <= 0:
        raise InvalidSourceError("The video stream has no picture size (0x0): re-export the video from your "
                                 "editor and send that file.", "no_dimensions")
    if info.duration <= 0:
        raise InvalidSourceError("The video has no readable timestamps, so its length is unknown: re-export it "
                                 "from your editor and send that file.", "unreadable")
    if info.duration < min_duration:
        raise InvalidSourceError(
            f"The video is {info.duration:.2f} s long, shorter than the {min_duration:g} s minimum: send a longer "
            "video.", "too_short")
    if info.duration > max_duration:
        raise InvalidSourceError(
            f"The video is {info.duration / 60:.1f} min long, over the {max_duration / 60:g} min limit: split it "
            f"into parts of at most {max_duration / 60:g} min and send those.", "too_long")
    long_side = max(info.display_width, info.display_height)
    short_side = min(info.display_width, info.display_height)
    if long_side > max_long_side or short_side > max_short_side:
        raise InvalidSourceError(
            f"The picture is {info.display_width}x{info.display_height}, larger than the "
            f"{max_long_side}x{max_short_side} maximum: send a version scaled down to fit "
            f"{max_long_side}x{max_short_side}.", "too_large")
    if not can_decode(info.video_codec):
        raise InvalidSourceError(
            f"The video is encoded as {info.video_codec}, which this vodflow installation cannot decode: send "
            "it encoded as H.264, HEVC, VP9 or ProRes.", "unsupported_codec",
            details=f"{ffmpeg_bin()} has no software decoder for {info.video_codec}"
            + (" (AV1 needs libdav1d or libaom: install the pinned imageio-ffmpeg for the mezzanine path, or point "
               "VODFLOW_MEDIA_TOOLS_DIR at such a build)" if info.video_codec == "av1" else ""))
    if info.hdr_transfer and tone_map_ffmpeg() is None:
        raise InvalidSourceError(
            f"The video is HDR ({info.hdr_transfer.upper()}) and this vodflow installation cannot convert HDR "
            "to SDR correctly: send an SDR (BT.709) export of the video.", "hdr_unsupported",
            details="no ffmpeg with zscale+tonemap (install the pinned imageio-ffmpeg)")
    if decode:
        decode_check(info)
    return info


__all__ = [
    "HARMLESS_LOG", "IMAGE_FORMATS", "InvalidSourceError", "SourceInfo", "DecodeSample", "bit_depth_of",
    "classify_decode_log", "decode_check",
    "decode_sample", "detect_vfr", "ffprobe_json", "probe", "validate_source", "MediaToolError",
]
