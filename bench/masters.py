"""Benchmark: the corpus of odd real-world masters through the pipeline's media steps (issue 15).

    .venv/bin/python bench/masters.py                    # writes bench/results/masters.json
    .venv/bin/python bench/masters.py --only hdr10_pq hlg

Each master of tests/media/corpus.py (generated with ffmpeg from lavfi sources, so the corpus is
reproducible and licence-free) goes through what the ingest DAG runs: mezzanine (AV1/HDR) ->
validate_source -> plan_ladder -> encode_ladder -> package -> posters -> storyboard. A ready master
only counts as meeting its expectation when its renditions pass ``corpus.output_problems`` (SDR colour
tags, progressive frames, the expected frame rate, stereo audio). A rejected one must be rejected with
the expected code. ``valid_masters_rejected`` counts masters expected ready that were rejected.

``--baseline DIR`` also runs the corpus with another checkout's ``vodflow`` (e.g. ``/work/main`` before
the issue 15 merge) in a subprocess, side by side in the same run, and records its outcomes.
Discussion and the table: docs/media.md, "Real-world masters".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "masters.json"


def _paths(vodflow_root: Path) -> None:
    sys.path[:0] = [str(vodflow_root), str(ROOT / "tests" / "media")]


def run_corpus(only: list[str] | None, work: Path, progress: bool = True) -> list[dict]:
    from corpus import MASTERS, make_master, output_problems, run_pipeline

    rows = []
    masters = [m for m in MASTERS if not only or m.name in only]
    for i, m in enumerate(masters, 1):
        t0 = time.monotonic()
        path = work / "masters" / f"{m.name}{m.suffix}"
        try:
            path = make_master(m, work / "masters")
            out = run_pipeline(path, work / "runs" / m.name)
            problems = output_problems(m.name, out) if out.outcome == "ready" else []
            outcome, reason = out.outcome, out.reason
            rungs = len(out.rungs or [])
        except Exception as e:  # noqa: BLE001 - a crash is an outcome to report, not a reason to stop
            outcome, reason, problems, rungs = f"error:{type(e).__name__}", str(e).splitlines()[0][:300], [], 0
        met = outcome == m.expected and not problems
        rows.append({"name": m.name, "class": m.cls, "file": path.name,
                     "expected": m.expected, "outcome": outcome, "reason": reason, "rungs": rungs,
                     "problems": problems, "met": met, "note": m.note,
                     "seconds": round(time.monotonic() - t0, 1)})
        if progress:
            print(f"[{i:2d}/{len(masters)}] {m.name:24s} {outcome:22s} {'ok' if met else 'NOT MET'} "
                  f"{rungs} rungs {rows[-1]['seconds']:5.1f}s {'; '.join(problems)[:120]}", flush=True)
    return rows


def markdown_table(result: dict) -> str:
    """The corpus table of docs/media.md from a results dict."""
    base = "baseline" in result
    head = "| master | class | expected | outcome | met |" + (" before (baseline) |" if base else "") + " note |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in result["corpus"]:
        before = ""
        if base:
            b = r.get("baseline_outcome") or "?"
            why = "; ".join(r.get("baseline_problems") or [])
            before = f" {b}{' - ' + why.split('; ')[0] if why else ''}{' (met)' if r.get('baseline_met') else ''} |"
        lines.append(f"| `{r['file']}` | {r['class']} | {r['expected']} | {r['outcome']}"
                     f"{' (' + str(r['rungs']) + ' rungs)' if r['rungs'] else ''} | {'yes' if r['met'] else 'NO'} |"
                     f"{before} {r['note']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="run only these masters (names from tests/media/corpus.py)")
    ap.add_argument("--baseline", type=Path, help="another checkout whose vodflow to run side by side")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--table", action="store_true", help="print the docs table of --out and exit")
    ap.add_argument("--_rows", type=Path, help=argparse.SUPPRESS)   # internal: baseline subprocess output
    args = ap.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.out.read_text())))
        return

    if args._rows:  # baseline worker: this process imports the other checkout's vodflow
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_corpus(args.only, Path(tmp), progress=False)
        args._rows.write_text(json.dumps(rows))
        return

    _paths(ROOT)
    baseline = None
    if args.baseline:
        rows_file = Path(tempfile.mkstemp(suffix=".json")[1])
        env = {**os.environ, "PYTHONPATH": f"{args.baseline}:{ROOT / 'tests' / 'media'}"}
        print(f"baseline: {args.baseline} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--_rows", str(rows_file), *(["--only", *args.only]
                                                                                if args.only else [])],
                       env=env, check=True, cwd=str(args.baseline))
        baseline = {r["name"]: r for r in json.loads(rows_file.read_text())}
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_corpus(args.only, Path(tmp))
    corpus = [{k: r[k] for k in ("name", "class", "file", "expected", "outcome", "reason", "rungs", "problems",
                                 "met", "note", "seconds")} for r in rows]
    if baseline:
        for r in corpus:
            b = baseline.get(r["name"], {})
            r["baseline_outcome"], r["baseline_met"] = b.get("outcome"), b.get("met")
            r["baseline_problems"] = b.get("problems")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    result = {
        "corpus": corpus,
        "corpus_total": len(corpus),
        "corpus_expected_outcomes_met": sum(r["met"] for r in corpus),
        "valid_masters_rejected": sum(r["expected"] == "ready" and r["outcome"].startswith("rejected")
                                      for r in corpus),
        "errors": sum(r["outcome"].startswith("error") for r in corpus),
        **({"baseline": str(args.baseline),
            "baseline_expected_outcomes_met": sum(bool(r.get("baseline_met")) for r in corpus),
            "baseline_valid_masters_rejected": sum(r["expected"] == "ready" and
                                                   str(r.get("baseline_outcome")).startswith("rejected")
                                                   for r in corpus)} if baseline else {}),
        "command": "python bench/masters.py" + (f" --baseline {args.baseline}" if baseline else ""),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['corpus_expected_outcomes_met']}/{result['corpus_total']} expected outcomes met, "
          f"{result['valid_masters_rejected']} valid masters rejected -> {args.out}")


if __name__ == "__main__":
    main()
