#!/usr/bin/env python
"""Replay the per-title trial search on stored trial points: which trials the coarse-to-fine rounds would run, and
how the picks change (no ffmpeg; seconds).

Input: a results file of bench/per_title.py whose clips carry the full trial grid (``analysis.points``, e.g. the
session-15 run, git show 0a57f51:bench/results/per_title.json). For each clip the rounds of ``trials.analyse`` are
replayed with the real rules (``trials.first_round_sizes``, ``trials.next_trials``, the flat-content trials) and
only the stored points they ask for; ``select_ladder`` then picks from those. The full grid's picks are the
baseline. Both ladders are read on the full grid's curves (the nearest thing to the truth the file has): BD-rate
of the replayed picks against the baseline's, and the predicted 10 % drop of the replayed top. A point a round asks
for that the file does not hold is listed as missing (the replay cannot know its VMAF).

Writes bench/results/NAME.json (default per_title_replay).

Run:  git show 0a57f51:bench/results/per_title.json > /tmp/s15.json
      .venv/bin/python bench/per_title_replay.py /tmp/s15.json --source 0a57f51
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vodflow.media.per_title import (  # noqa: E402
    MIN_LADDER_LINES,
    STILL_MARGIN,
    TOP_MIN_DROP,
    TrialPoint,
    bd_rate,
    curves_by_size,
    drop10,
    find_top,
    top_still_rising,
    vmaf_at,
    vmaf_below,
    select_ladder,
)
from vodflow.media.trials import (  # noqa: E402
    EXTRA_CRF_STEP,
    MAX_MORE_ROUNDS,
    TRIAL_CRFS,
    first_round_sizes,
    next_trials,
    trial_crfs,
)


def on_curves(curves, pick) -> float:
    """A pick's VMAF read on the full grid's curve of its size (continued below its cheapest trial)."""
    c = curves[(pick.width, pick.height)]
    if pick.kbps <= c[0].kbps:
        return vmaf_below(c, pick.kbps) if len(c) > 1 else c[0].vmaf
    if pick.kbps >= c[-1].kbps:
        return c[-1].vmaf
    return vmaf_at(c, pick.kbps)


def replay(clip: dict) -> dict:
    a = clip["analysis"]
    full = [TrialPoint(p["width"], p["height"], p["crf"], p["kbps"], p["vmaf"]) for p in a["points"]]
    stored = {(p.width, p.height, p.crf): p for p in full}
    kw = {"max_kbps": a["max_kbps"], "min_kbps": min(r["target_kbps"] for r in clip["fixed"])}
    if min(clip["source"]["size"]) >= MIN_LADDER_LINES:
        kw["min_rungs"] = 2
    flat_run = "flat_trials" in a["cpu_seconds"]
    if flat_run:
        kw["top_min_drop"] = TOP_MIN_DROP * STILL_MARGIN
    fps = Fraction(25)  # the rules do not use the frame rate
    sizes = [(w, h, fps) for w, h in sorted({p.size for p in full}, key=lambda s: s[0] * s[1])]
    grid = dict(zip(sizes, trial_crfs(sizes)))
    tried: dict[tuple[int, int], set[int]] = {}
    missing: list[list[int]] = []
    rounds: list[list[list[int]]] = []

    def take(asked: list[tuple[tuple, tuple[int, ...]]]) -> list[TrialPoint]:
        got, keys = [], []
        for s, crfs in asked:
            for c in crfs:
                tried.setdefault(s[:2], set()).add(c)
                keys.append([s[0], s[1], c])
                if (s[0], s[1], c) in stored:
                    got.append(stored[(s[0], s[1], c)])
                else:  # not in the file: above the rate cap (not scored there) or never trialled
                    missing.append([s[0], s[1], c])
        rounds.append(keys)
        return got

    have = take([(s, grid[s]) for s in first_round_sizes(sizes)])
    rising = top_still_rising(have, max_kbps=kw["max_kbps"])
    if not rising and find_top(curves_by_size(have), cap=kw["max_kbps"] or math.inf) is None:
        low = (max(TRIAL_CRFS) + EXTRA_CRF_STEP, max(TRIAL_CRFS) + 2 * EXTRA_CRF_STEP)
        have += take([(s, low) for s in (sizes[:1] + sizes[-1:] if len(sizes) > 1 else sizes[:1])])
        kw["top_min_drop"] = TOP_MIN_DROP * STILL_MARGIN
    else:
        for _ in range(MAX_MORE_ROUNDS):
            more = next_trials(have, sizes, [grid[s] for s in sizes], tried, TRIAL_CRFS, kw["max_kbps"],
                               kw["min_kbps"])
            if not more:
                break
            have += take(more)
    base, new = select_ladder(full, **kw), select_ladder(have, **kw)
    curves = curves_by_size(full)
    ref = [(p.kbps, on_curves(curves, p)) for p in base]
    got = [(p.kbps, on_curves(curves, p)) for p in new]
    bd = bd_rate(ref, got)
    fmt = lambda ps: [[p.height, round(p.kbps), round(p.vmaf, 1)] for p in ps]  # noqa: E731
    return {"name": clip["name"], "trials_full": len(full), "trials_replayed": len(have),
            "rounds": rounds, "missing": missing, "same_picks": fmt(base) == fmt(new),
            "picks_full": fmt(base), "picks_replayed": fmt(new),
            "bd_rate_vs_full": None if bd is None else round(bd, 4),
            "bits_vs_full": round(sum(r for r, _ in got) / sum(r for r, _ in ref) - 1, 4),
            "top_drop10_on_full_curves": round(drop10(curves, new[-1].kbps, got[-1][1]), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("points", type=Path, help="a bench/per_title.py results file with the full trial grid")
    ap.add_argument("--source", default="", help="where that file comes from (a commit), recorded in the results")
    ap.add_argument("--name", default="per_title_replay", help="results bench/results/NAME.json")
    args = ap.parse_args(argv)
    if not args.points.is_file():
        ap.error(f"{args.points}: no such file")
    data = json.loads(args.points.read_text())
    rows = [replay(c) for c in data["clips"]]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    bds = [r["bd_rate_vs_full"] for r in rows if r["bd_rate_vs_full"] is not None]
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
           "command": "python bench/per_title_replay.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "points_from": {"file": str(args.points), "source": args.source, "run_commit": data.get("commit")},
           "trials_full": sum(r["trials_full"] for r in rows),
           "trials_replayed": sum(r["trials_replayed"] for r in rows),
           "same_picks": sum(r["same_picks"] for r in rows), "clips_n": len(rows),
           "worst_bd_rate_vs_full": max(bds, default=None), "clips": rows}
    path = REPO / "bench" / "results" / f"{args.name}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for r in rows:
        bd = "n/a" if r["bd_rate_vs_full"] is None else f"{r['bd_rate_vs_full']:+.1%}"
        print(f"{r['name'][:28]:28} trials {r['trials_full']:2} -> {r['trials_replayed']:2}  rounds "
              f"{[len(x) for x in r['rounds']]}  {'same picks' if r['same_picks'] else 'other picks'}  BD {bd}  "
              f"bits {r['bits_vs_full']:+.1%}  top drop10 {r['top_drop10_on_full_curves']:.2f}"
              + (f"  missing {r['missing']}" if r["missing"] else ""))
    print(f"trials {out['trials_full']} -> {out['trials_replayed']}, same picks {out['same_picks']}/{len(rows)}, "
          f"worst BD-rate vs full {out['worst_bd_rate_vs_full']}")
    print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
