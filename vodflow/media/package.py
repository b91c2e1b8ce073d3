"""Package encoded renditions into CMAF (fMP4) HLS + DASH with Shaka Packager.

Layout of ``out_dir``::

    master.m3u8            HLS multivariant playlist (BANDWIDTH/AVERAGE-BANDWIDTH measured by us)
    manifest.mpd           DASH MPD (static, SegmentTemplate + SegmentTimeline) over the same segments
    <rung>/init.mp4        CMAF header
    <rung>/seg_00001.m4s   6 s CMAF segments (3 GOPs of 2 s)
    <rung>/index.m3u8      media playlist;  <rung>/iframe.m3u8  I-frame playlist (byte ranges)
    audio/...              the main audio rendition (HLS group "audio", DEFAULT=YES)
    audio_<lang>/...       alternate audio languages (same group, DEFAULT=NO, AUTOSELECT=YES)

After packaging, every segment is measured (:mod:`vodflow.media.verify`) and the master
playlist's BANDWIDTH (peak segment rate) and AVERAGE-BANDWIDTH are rewritten with the measured
numbers: video + audio (the largest rendition of the group), as the HLS spec asks for a variant
that plays with an audio group.

With ``encryption`` (a :class:`RawKey`) every track is CENC-encrypted (``cenc``, AES-CTR, no clear
lead) and the manifests get the ClearKey signalling of :mod:`vodflow.media.protection`
(``ContentProtection`` with the ClearKey system id in the MPD, ``EXT-X-KEY``/``EXT-X-SESSION-KEY``
``METHOD=SAMPLE-AES-CTR,KEYFORMAT="org.w3.clearkey"`` in HLS).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import m3u8

from vodflow.media.encode import EncodeResult
from vodflow.media.protection import signal_clearkey
from vodflow.media.tools import packager_bin, run_tool
from vodflow.media.verify import BitrateStats, measure_playlist_bitrates

MASTER = "master.m3u8"
MPD = "manifest.mpd"
AUDIO_DIR = "audio"
AUDIO_GROUP = "audio"
SEGMENT_DURATION = 6.0


@dataclass(frozen=True)
class RawKey:
    """A CENC content key for Shaka Packager's raw-key mode (16-byte hex key id and key)."""

    key_id: str
    key: str
    label: str = ""   # empty: the key for every stream
    protection_scheme: str = "cenc"   # cenc (DASH/Widevine/PlayReady) or cbcs (FairPlay, later)

    def __post_init__(self) -> None:
        for name in ("key_id", "key"):
            val = getattr(self, name)
            if not re.fullmatch(r"[0-9a-fA-F]{32}", val or ""):
                raise ValueError(f"RawKey.{name} must be 32 hex digits (16 bytes), got {val!r}")

    def packager_args(self) -> list[str]:
        return ["--enable_raw_key_encryption",
                "--keys", f"label={self.label}:key_id={self.key_id.lower()}:key={self.key.lower()}",
                "--protection_scheme", self.protection_scheme, "--clear_lead", "0"]


@dataclass(frozen=True)
class VariantBitrates:
    """Measured bitrates of one rung and what the master playlist now declares."""

    name: str
    video: BitrateStats
    bandwidth: int                     # declared BANDWIDTH = video peak + audio peak
    average_bandwidth: int             # declared AVERAGE-BANDWIDTH = video avg + audio avg
    packager_bandwidth: int | None     # what Shaka Packager had written
    packager_average_bandwidth: int | None


@dataclass
class PackageResult:
    """What :func:`package` produced; paths are relative to ``out_dir``."""

    out_dir: Path
    master_playlist: str
    mpd: str
    files: list[str]
    variants: dict[str, VariantBitrates]
    audio: BitrateStats | None
    encrypted: bool
    segment_duration: float
    rewritten: bool                      # True if packager's BANDWIDTH values were replaced
    media_playlists: dict[str, str] = field(default_factory=dict)   # rung/audio -> playlist
    iframe_playlists: dict[str, str] = field(default_factory=dict)
    alternate_audio: dict[str, BitrateStats] = field(default_factory=dict)   # audio_<lang> -> measured

    def path(self, rel: str) -> Path:
        return self.out_dir / rel

    def to_dict(self) -> dict:
        """JSON-friendly summary (for XCom / the catalog)."""
        return {
            "master_playlist": self.master_playlist, "mpd": self.mpd, "files": self.files,
            "encrypted": self.encrypted, "segment_duration": self.segment_duration,
            "variants": {n: {"bandwidth": v.bandwidth, "average_bandwidth": v.average_bandwidth,
                             "video_peak": v.video.peak, "video_average": v.video.average}
                         for n, v in self.variants.items()},
            "audio": None if self.audio is None else {"peak": self.audio.peak, "average": self.audio.average},
        }


_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _descriptor(**fields: str) -> str:
    for k, v in fields.items():
        if "," in v or "=" in v.replace("$Number%05d$", ""):
            raise ValueError(f"packager descriptor field {k}={v!r} may not contain ',' or '='")
    return ",".join(f"{k}={v}" for k, v in fields.items())


def build_packager_command(videos: Mapping[str, Path], audio: Path | None, out_dir: Path, *,
                           segment_duration: float = SEGMENT_DURATION, encryption: RawKey | None = None,
                           audio_language: str | None = None,
                           alternates: Mapping[str, tuple[Path, str | None]] | None = None) -> list[str]:
    """argv for Shaka Packager (paths inside ``out_dir`` are relative to it: run with cwd=out_dir).

    ``alternates``: ``{directory: (audio mp4, language)}`` of alternate audio languages.
    """
    argv = [packager_bin()]
    for name in alternates or {}:
        if not _SAFE.match(name) or name in videos or name == AUDIO_DIR:
            raise ValueError(f"alternate audio name {name!r} is not a safe, unique directory name")
    for name, src in videos.items():
        if not _SAFE.match(name) or name == AUDIO_DIR:
            raise ValueError(f"rendition name {name!r} is not a safe directory name (or clashes with {AUDIO_DIR!r})")
        argv.append(_descriptor(
            **{"in": str(Path(src).resolve()), "stream": "video",
               "init_segment": f"{name}/init.mp4", "segment_template": f"{name}/seg_$Number%05d$.m4s",
               "playlist_name": f"{name}/index.m3u8", "iframe_playlist_name": f"{name}/iframe.m3u8"}))
    if audio is not None:
        argv.append(_descriptor(
            **{"in": str(Path(audio).resolve()), "stream": "audio",
               "init_segment": f"{AUDIO_DIR}/init.mp4", "segment_template": f"{AUDIO_DIR}/seg_$Number%05d$.m4s",
               "playlist_name": f"{AUDIO_DIR}/index.m3u8", "hls_group_id": AUDIO_GROUP, "hls_name": "main",
               **({"language": audio_language} if audio_language else {})}))
    for name, (src, lang) in (alternates or {}).items():
        argv.append(_descriptor(
            **{"in": str(Path(src).resolve()), "stream": "audio",
               "init_segment": f"{name}/init.mp4", "segment_template": f"{name}/seg_$Number%05d$.m4s",
               "playlist_name": f"{name}/index.m3u8", "hls_group_id": AUDIO_GROUP, "hls_name": lang or name,
               **({"language": lang} if lang else {})}))
    argv += [
        "--segment_duration", f"{segment_duration:g}",
        "--hls_master_playlist_output", MASTER, "--hls_playlist_type", "VOD",
        "--mpd_output", MPD, "--generate_static_live_mpd",
    ]
    if audio_language:  # ISO 639 code, e.g. "en"; packager rejects "und"
        argv += ["--default_language", audio_language]
    if encryption is not None:
        argv += encryption.packager_args()
    return argv


def rewrite_master_bandwidths(master_path: Path, video_stats: Mapping[str, BitrateStats],
                              audio_stats: BitrateStats | None,
                              iframe_stats: Mapping[str, BitrateStats] | None = None) -> dict[str, VariantBitrates]:
    """Set each variant's BANDWIDTH / AVERAGE-BANDWIDTH to the measured video + audio numbers.

    Variants are matched to renditions by the first path component of their URI. ``audio_stats`` is the
    largest rendition of the audio group. Marks the main audio rendition (``audio/``) DEFAULT=YES and
    the alternate languages DEFAULT=NO, AUTOSELECT=YES. Returns what was declared before and after.
    """
    master = m3u8.load(str(master_path))
    result: dict[str, VariantBitrates] = {}
    a_peak = audio_stats.peak if audio_stats else 0
    a_avg = audio_stats.average if audio_stats else 0
    for pl in master.playlists:
        name = pl.uri.split("/", 1)[0]
        v = video_stats[name]
        old_bw, old_avg = pl.stream_info.bandwidth, pl.stream_info.average_bandwidth
        pl.stream_info.bandwidth = v.peak + a_peak
        pl.stream_info.average_bandwidth = v.average + a_avg
        result[name] = VariantBitrates(name, v, v.peak + a_peak, v.average + a_avg, old_bw, old_avg)
    for ipl in master.iframe_playlists:
        name = ipl.uri.split("/", 1)[0]
        if iframe_stats and name in iframe_stats:
            ipl.iframe_stream_info.bandwidth = iframe_stats[name].peak
            ipl.iframe_stream_info.average_bandwidth = iframe_stats[name].average
    for media in master.media:
        if media.type == "AUDIO" and media.group_id == AUDIO_GROUP:
            media.default = "YES" if (media.uri or "").startswith(f"{AUDIO_DIR}/") else "NO"
            media.autoselect = "YES"
    tmp = master_path.with_suffix(".m3u8.tmp")
    tmp.write_text(master.dumps())
    os.replace(tmp, master_path)
    return result


def package_files(videos: Mapping[str, str | Path], audio: str | Path | None, out_dir: str | Path, *,
                  segment_duration: float = SEGMENT_DURATION, encryption: RawKey | None = None,
                  audio_language: str | None = None, timeout: float | None = 1800,
                  alternates: Mapping[str, tuple[Path, str | None]] | None = None) -> PackageResult:
    """Package ``{rung name: video mp4}`` (+ optional audio mp4, + alternate languages) into ``out_dir``."""
    if not videos:
        raise ValueError("nothing to package: no video renditions")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vids = {n: Path(p) for n, p in videos.items()}
    for n, p in vids.items():
        if not p.is_file():
            raise FileNotFoundError(f"rendition {n}: {p} does not exist")
    aud = Path(audio) if audio else None
    alts = dict(alternates or {}) if aud else {}
    argv = build_packager_command(vids, aud, out, segment_duration=segment_duration,
                                  encryption=encryption, audio_language=audio_language, alternates=alts)
    _run_in(argv, out, timeout)

    video_stats = {n: measure_playlist_bitrates(out / n / "index.m3u8") for n in vids}
    iframe_stats = {n: measure_playlist_bitrates(out / n / "iframe.m3u8") for n in vids}
    audio_stats = measure_playlist_bitrates(out / AUDIO_DIR / "index.m3u8") if aud else None
    alt_stats = {n: measure_playlist_bitrates(out / n / "index.m3u8") for n in alts}
    group_stats = max([audio_stats, *alt_stats.values()], key=lambda b: b.peak) if aud else None
    variants = rewrite_master_bandwidths(out / MASTER, video_stats, group_stats, iframe_stats)
    media = {n: f"{n}/index.m3u8" for n in vids}
    if aud:
        media[AUDIO_DIR] = f"{AUDIO_DIR}/index.m3u8"
        media.update({n: f"{n}/index.m3u8" for n in alts})
    iframes = {n: f"{n}/iframe.m3u8" for n in vids}
    if encryption is not None:
        # packager signals CENC raw keys in the MPD only generically and not at all in HLS
        signal_clearkey(out, encryption.key_id, mpd=MPD, master=MASTER,
                        playlists=[*media.values(), *iframes.values()])
    rewritten = any((v.packager_bandwidth, v.packager_average_bandwidth) != (v.bandwidth, v.average_bandwidth)
                    for v in variants.values())
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return PackageResult(out, MASTER, MPD, files, variants, audio_stats, encryption is not None,
                         segment_duration, rewritten, media, iframes, alt_stats)


def _run_in(argv: list[str], cwd: Path, timeout: float | None) -> None:
    """Run packager inside ``cwd`` so every path written into the manifests is relative."""
    run_tool(argv, timeout=timeout, cwd=cwd)


def package(encoded: EncodeResult, out_dir: str | Path, *, segment_duration: float = SEGMENT_DURATION,
            encryption: RawKey | None = None, audio_language: str | None = None,
            timeout: float | None = 1800) -> PackageResult:
    """Package the renditions of an :class:`EncodeResult` (see :func:`package_files`); its alternate audio
    tracks become alternate languages; the main track's language is declared when both are known."""
    alternates = {a.name: (a.path, a.language) for a in encoded.alternates}
    lang = audio_language or (encoded.audio_language if alternates else None)
    return package_files({r.rung.name: r.path for r in encoded.renditions}, encoded.audio, out_dir,
                         segment_duration=segment_duration, encryption=encryption,
                         audio_language=lang, timeout=timeout, alternates=alternates)


__all__ = ["AUDIO_DIR", "AUDIO_GROUP", "MASTER", "MPD", "PackageResult", "RawKey", "SEGMENT_DURATION",
           "VariantBitrates", "build_packager_command", "package", "package_files", "rewrite_master_bandwidths"]
