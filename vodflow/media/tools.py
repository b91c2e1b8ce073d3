"""Locating and running the media binaries (ffmpeg, ffprobe, Shaka Packager).

The paths come from :func:`vodflow.settings.get_settings().media_tools`, so a deployment
switches to a system ffmpeg with ``VODFLOW_MEDIA_TOOLS_DIR`` and nothing here changes.
Every failure is raised as :class:`MediaToolError` carrying the command and the tail of
its stderr, so a failed Airflow task log says *which* tool failed and *why*.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vodflow.settings import MediaTools, get_settings


class MediaToolError(RuntimeError):
    """An external media tool exited non-zero (or could not be started)."""

    def __init__(self, tool: str, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.tool = tool
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-12:])
        super().__init__(f"{tool} failed (exit {returncode}): {shlex.join(self.argv)[:600]}\n{tail}")


def media_tools() -> MediaTools:
    """ffmpeg / ffprobe / packager paths from the vodflow settings."""
    return get_settings().media_tools


def ffmpeg_bin() -> str:
    return media_tools().ffmpeg


def ffprobe_bin() -> str:
    return media_tools().ffprobe


def packager_bin() -> str:
    return media_tools().packager


@dataclass(frozen=True)
class RunResult:
    """Captured output of a finished tool run."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_tool(argv: Sequence[str], *, check: bool = True, timeout: float | None = None,
             input_bytes: bytes | None = None, cwd: str | os.PathLike[str] | None = None) -> RunResult:
    """Run ``argv`` to completion, capturing text output; raise :class:`MediaToolError` on failure."""
    tool = argv[0].rsplit("/", 1)[-1]
    try:
        proc = subprocess.run(list(argv), input=input_bytes, capture_output=True, timeout=timeout, cwd=cwd,
                              stdin=None if input_bytes is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise MediaToolError(tool, argv, None, f"binary not found: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise MediaToolError(tool, argv, None, f"timed out after {timeout}s") from exc
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise MediaToolError(tool, argv, proc.returncode, err)
    return RunResult(list(argv), proc.returncode, out, err)


ProgressLine = Callable[[dict[str, str]], None]


def run_ffmpeg_with_progress(argv: Sequence[str], on_block: ProgressLine | None = None,
                             timeout: float | None = None) -> RunResult:
    """Run an ffmpeg command that has ``-progress pipe:1`` and report each progress block.

    ffmpeg writes ``key=value`` lines to stdout and closes each block with ``progress=continue``
    (or ``progress=end``); every completed block is passed to ``on_block`` as a dict.
    stderr is drained on a thread so neither pipe can fill up and stall ffmpeg.
    """
    import threading

    tool = argv[0].rsplit("/", 1)[-1]
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise MediaToolError(tool, argv, None, f"binary not found: {exc}") from exc
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    out_lines: list[str] = []
    block: dict[str, str] = {}
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").strip()
        out_lines.append(line)
        key, sep, value = line.partition("=")
        if not sep:
            continue
        block[key] = value
        if key == "progress":
            if on_block is not None:
                on_block(dict(block))
            block = {}
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise MediaToolError(tool, argv, None, f"timed out after {timeout}s") from exc
    reader.join()
    err = b"".join(err_chunks).decode("utf-8", "replace")
    if proc.returncode != 0:
        raise MediaToolError(tool, argv, proc.returncode, err)
    return RunResult(list(argv), proc.returncode, "\n".join(out_lines), err)


def parse_progress_seconds(block: dict[str, str]) -> float | None:
    """Media time reached, in seconds, from one ``-progress`` block (``out_time_us`` is in µs)."""
    for key in ("out_time_us", "out_time_ms"):  # out_time_ms is also microseconds (historic misnomer)
        val = block.get(key, "")
        if val and val != "N/A":
            try:
                return max(0.0, int(val) / 1_000_000)
            except ValueError:
                continue
    return None


#: Software decoders that can stand in for a codec whose native ffmpeg decoder needs hardware.
_SOFTWARE_DECODERS: dict[str, tuple[str, ...]] = {
    "av1": ("libdav1d", "libaom-av1"),  # ffmpeg's native "av1" decoder only drives hwaccels
}


def _decoder_names(ffmpeg_path: str) -> frozenset[str]:
    res = run_tool([ffmpeg_path, "-hide_banner", "-decoders"], check=False, timeout=60)
    names = set()
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


_DECODER_CACHE: dict[str, frozenset[str]] = {}


def decoders() -> frozenset[str]:
    """Names of the decoders in the configured ffmpeg build (cached per binary)."""
    path = ffmpeg_bin()
    if path not in _DECODER_CACHE:
        _DECODER_CACHE[path] = _decoder_names(path)
    return _DECODER_CACHE[path]


def can_decode(codec: str) -> bool:
    """Whether the configured ffmpeg can decode ``codec`` (an ffprobe codec_name) in software."""
    names = decoders()
    if codec in _SOFTWARE_DECODERS:
        return any(d in names for d in _SOFTWARE_DECODERS[codec])
    return codec in names or any(n.startswith(codec) for n in names)


# -- the second ffmpeg -------------------------------------------------------------------------------

def fallback_ffmpeg() -> str | None:
    """imageio-ffmpeg's static ffmpeg (PyPI, pinned): libdav1d, zscale, libvmaf; None when not installed.

    The mezzanine path (:mod:`vodflow.media.mezzanine`) uses it for what the packaging ffmpeg cannot
    do: decode AV1, tone-map HDR.
    """
    if "fallback" not in _FALLBACK:
        try:
            import imageio_ffmpeg

            _FALLBACK["fallback"] = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            _FALLBACK["fallback"] = None
    return _FALLBACK["fallback"]


_FALLBACK: dict[str, str | None] = {}
_FILTER_CACHE: dict[str, frozenset[str]] = {}


def filters_of(ffmpeg_path: str) -> frozenset[str]:
    """Names of the filters an ffmpeg build has (cached per binary)."""
    if ffmpeg_path not in _FILTER_CACHE:
        res = run_tool([ffmpeg_path, "-hide_banner", "-filters"], check=False, timeout=60)
        names = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and "->" in parts[2]:
                names.add(parts[1])
        _FILTER_CACHE[ffmpeg_path] = frozenset(names)
    return _FILTER_CACHE[ffmpeg_path]


#: Filters a correct PQ/HLG -> SDR BT.709 tone map needs: zscale linearises with the real transfer curves
#: (the packaging ffmpeg's ``colorspace`` filter has no PQ/HLG curve, and it has no zscale or libplacebo).
TONE_MAP_FILTERS = ("zscale", "tonemap")


def tone_map_ffmpeg() -> str | None:
    """An ffmpeg that can tone-map HDR to SDR (the packaging one if it can, else the fallback), or None."""
    for exe in (ffmpeg_bin(), fallback_ffmpeg()):
        if exe and all(f in filters_of(exe) for f in TONE_MAP_FILTERS):
            return exe
    return None
