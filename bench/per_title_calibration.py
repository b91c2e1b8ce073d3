#!/usr/bin/env python
"""Benchmark: the per-title rate calibration on part of the title vs on the whole title, in one run.

For each clip: the analysis' sample windows (``per_title.sample_windows``), its calibration windows
(``per_title.calibration_windows``, ~15 % of the title) and, as the truth, windows tiling the whole title; both are
encoded by ``trials.make_reference`` (the same ffmpeg run as the reference, at the smallest trial size and its first
CRF) and measured by ``trials.calibration_kbps``. Reports the partial calibration's rate error against the whole
title's and the CPU seconds of each run (ffmpeg children). Writes bench/results/per_title_calibration.json.

Run:  .venv/bin/python bench/per_title_calibration.py 01 10 02 bbb_1080p bbb_720p-mezz
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from per_title import OUT, clips, cpu_children, cut, git_commit  # noqa: E402

from vodflow.media import plan_ladder, validate_source  # noqa: E402
from vodflow.media.per_title import calibration_windows, sample_windows  # noqa: E402
from vodflow.media.trials import (  # noqa: E402
    CalibrationSpec,
    calibration_kbps,
    candidate_sizes,
    make_reference,
    score_size,
    trial_crfs,
    trial_sizes,
)

RESULTS = REPO / "bench" / "results" / "per_title_calibration.json"


def run(name: str, path: Path) -> dict:
    work = OUT / name / "calibration"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _, src = cut(path, 0.0, OUT / name)
    info = validate_source(src)
    fixed = plan_ladder(info)
    top_fps = max(r.fps for r in fixed)
    duration = info.video_offset + info.duration
    windows = sample_windows(duration, fps=float(top_fps))
    sizes = trial_sizes(candidate_sizes(fixed))
    crf = trial_crfs(sizes)[0][0]
    gop = fixed[0].keyint / float(fixed[0].fps)
    idr = -(-max(duration, gop) // gop) / duration
    out = {"name": name, "seconds": round(duration, 2), "size": list(sizes[0][:2]), "crf": crf}
    for label, wins in (("partial", calibration_windows(duration, windows)),
                        ("whole", calibration_windows(duration, windows, whole=0.0))):
        spec = CalibrationSpec(wins, sizes[0], crf, gop, work / f"{label}.mp4")
        c0, t0 = cpu_children(), time.monotonic()
        make_reference(info, windows, score_size(info), top_fps, work / f"ref_{label}.mp4", calibration=spec)
        out[label] = {"kbps": round(calibration_kbps(spec, idr), 2), "cpu_s": round(cpu_children() - c0, 2),
                      "wall_s": round(time.monotonic() - t0, 2),
                      "share": round(sum(length for _, length in wins) / duration, 3)}
    out["rate_error"] = round(out["partial"]["kbps"] / out["whole"]["kbps"] - 1, 4) if out["whole"]["kbps"] else None
    print(json.dumps(out), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="+", help="clip names (or prefixes)")
    args = ap.parse_args()
    rows = [run(n, p) for n, p, _ in clips(0.0) if p is not None and any(n.startswith(o) for o in args.only)]
    errs = [abs(r["rate_error"]) for r in rows if r["rate_error"] is not None]
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
           "loadavg": os.getloadavg(), "command": "python bench/per_title_calibration.py " + " ".join(args.only),
           "clips": rows, "max_abs_rate_error": max(errs, default=None),
           "mean_abs_rate_error": round(sum(errs) / len(errs), 4) if errs else None}
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    print(f"max |error| {res['max_abs_rate_error']}, mean {res['mean_abs_rate_error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
