"""Filters that turn any decodable master into a progressive, opaque picture (used by encode and thumbnails).

* interlaced (probe ``field_order`` tt/bb/tb/bt, or idet): ``bwdif``; the encode sends one frame per field
  (``send_field``: the motion of every field is kept), a poster needs one frame (``send_frame``);
  ``parity=auto`` for stream-flagged fields, tff/bff from idet otherwise (those frames are flagged
  progressive, so the filter must be told);
* an alpha plane the decoder delivers (FFV1/ProRes 4444/QuickTime Animation/PNG): ``premultiply=inplace=1``,
  i.e. colour x alpha, the picture composited onto black.

Pure: returns ffmpeg-python filter steps; the callers apply them.
"""

from __future__ import annotations

import re

from vodflow.media.probe import SourceInfo

ALPHA_PIX_FMT = re.compile(r"^(yuva|rgba|bgra|argb|abgr|gbrap|ya\d)")


def has_alpha_plane(info: SourceInfo) -> bool:
    """Whether decoded frames carry alpha (VP9 ``alpha_mode`` does not: ffmpeg's VP9 decoder drops it)."""
    return bool(info.pix_fmt and ALPHA_PIX_FMT.match(info.pix_fmt))


def conform_steps(info: SourceInfo, *, per_field: bool = True) -> list[tuple[str, dict[str, object]]]:
    """(filter name, options) to apply right after decoding, in order."""
    steps: list[tuple[str, dict[str, object]]] = []
    if info.is_interlaced:
        parity = "auto" if info.field_order_source == "stream" else (
            "tff" if info.field_order in ("tt", "tb") else "bff")
        steps.append(("bwdif", {"mode": "send_field" if per_field else "send_frame", "parity": parity,
                                "deint": "all"}))
    if has_alpha_plane(info):
        steps.append(("premultiply", {"inplace": 1}))
    return steps


def conform(stream, info: SourceInfo, *, per_field: bool = True):
    """``stream`` (an ffmpeg-python video node) with :func:`conform_steps` applied."""
    for name, opts in conform_steps(info, per_field=per_field):
        stream = stream.filter(name, **opts)
    return stream


__all__ = ["ALPHA_PIX_FMT", "conform", "conform_steps", "has_alpha_plane"]
