"""The training DAG's "as served" evaluation (:func:`vodflow.recs.holdout.evaluate_as_served`), before and after.

Issue 16, build item 4: at 20M interactions each evaluation of the nightly DAG took ~6 min (session 14) and
the DAG runs six a night (4 grid points, the final model, the popularity baseline).  This bench times the
implementation of a given git revision (``--before``, loaded from ``git show``) and the checked-out one on
the same case, in one process, one after the other, and checks they return the same metrics (1e-9).

The case, per size: the synthetic interactions of bench/recs_scale.py (``--data-dir``, same Parquet file),
external string ids as the nightly bench's Delta table (``u%07d`` / ``v%05d``), the DAG's temporal holdout
(:func:`vodflow.recs.holdout.temporal_holdout_pandas`, default fraction); the model is rank-16 random
factors over the train users and titles with 1% of the holdout users left out of the model (so the
cold-user path runs, as for a champion trained on an older snapshot), and the popularity baseline
(every user cold).  Evaluation time does not depend on what the factors learned.

    /work/notes/heavy .venv/bin/python bench/recs_eval.py --sizes 1M,5M --data-dir /work/tmp/recs-scale-16

Results merge into ``bench/results/recs.json`` under ``eval_as_served``; prose in docs/benchmarks-recs.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import Poller, commit, merge_results  # noqa: E402
from recs_scale import data_file, label, parse_size, read_data, uptime  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recs.json"
METRICS = ("ndcg_at_10", "map", "precision_at_10", "recall_at_10", "coverage", "novelty", "users", "holdout_users")


class PeakRSS(Poller):
    def __init__(self, every: float = 0.05):
        super().__init__(every)
        self.peak = 0.0

    def poll(self) -> None:
        import psutil

        self.peak = max(self.peak, psutil.Process().memory_info().rss / 2**20)


def _module_at(rev: str, path: str, name: str):
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True, text=True,
                         check=True).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(src)
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def load_revision(rev: str):
    """``vodflow/recs/holdout.py`` of git revision ``rev`` as a module of its own, its top-N
    (``top_n_scores``, ``seen_csr``) from that revision's ``vodflow/recs/factors.py``."""
    factors = _module_at(rev, "vodflow/recs/factors.py", f"factors_{rev}")
    holdout = _module_at(rev, "vodflow/recs/holdout.py", f"holdout_{rev}")
    holdout.top_n_scores, holdout.seen_csr = factors.top_n_scores, factors.seen_csr
    return holdout


def build_case(n: int, seed: int, data_dir: Path, rank: int = 16, drop_users: float = 0.01):
    """(ALS-like model, popularity model, holdout, train) with external string ids."""
    import numpy as np
    import pandas as pd

    from vodflow.recs.factors import FactorModel, seen_csr
    from vodflow.recs.holdout import popularity_model, temporal_holdout_pandas

    df = read_data(data_file(data_dir, n, seed))
    pairs = pd.DataFrame({"user_id": pd.Series(df["userID"].to_numpy()).map("u{:07d}".format),
                          "video_id": pd.Series(df["itemID"].to_numpy()).map("v{:05d}".format),
                          "last_watched": pd.to_datetime(df["timestamp"].to_numpy(), unit="s")})
    del df
    train, hold = temporal_holdout_pandas(pairs, 0.2)
    train, hold = train[["user_id", "video_id"]].reset_index(drop=True), hold[["user_id", "video_id"]]
    rng = np.random.default_rng(seed)
    users = np.sort(train["user_id"].unique())
    hold_users = hold["user_id"].unique()
    gone = set(rng.choice(hold_users, max(1, int(len(hold_users) * drop_users)), replace=False).tolist())
    users = np.array([u for u in users.tolist() if u not in gone])
    items = np.sort(train["video_id"].unique())
    u_row = pd.Series(np.arange(len(users)), index=users)
    i_row = pd.Series(np.arange(len(items)), index=items)
    known = train[train["user_id"].isin(u_row.index)]
    indptr, indices = seen_csr(u_row.loc[known["user_id"]].to_numpy(), i_row.loc[known["video_id"]].to_numpy(),
                               len(users))
    pop = np.bincount(i_row.loc[train["video_id"]].to_numpy(), minlength=len(items))
    fm = FactorModel(users, items, rng.normal(0, 0.3, (len(users), rank)).astype(np.float32),
                     rng.normal(0, 0.3, (len(items), rank)).astype(np.float32), indptr, indices, pop,
                     {"kind": "bench"})
    return fm, popularity_model(train), hold, train


def timed(fn, *args) -> tuple[dict, dict]:
    gc.collect()
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn(*args)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return res, {"s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(mem.peak)}


def max_diff(a: dict, b: dict) -> float:
    return max(abs(a[m] - b[m]) for m in METRICS)


def run_size(n: int, seed: int, data_dir: Path, old, new, skip_old_popularity_over: int) -> dict:
    t0 = time.perf_counter()
    fm, pop, hold, train = build_case(n, seed, data_dir)
    print(f"[{label(n)}] case: {len(train):,} train / {len(hold):,} holdout pairs, {hold['user_id'].nunique():,} "
          f"holdout users, {len(fm.user_ids):,} model users, {len(fm.item_ids):,} titles "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    row: dict = {"interactions": n, "train_pairs": len(train), "holdout_pairs": len(hold),
                 "holdout_users": int(hold["user_id"].nunique()), "titles": len(fm.item_ids)}
    for name, model in (("als", fm), ("popularity", pop)):
        got_new, t_new = timed(new.evaluate_as_served, model, hold, train, 10)
        print(f"  {name}: after {t_new['s']:.2f} s ({t_new['cpu_s']:.2f} CPU-s, peak {t_new['peak_rss_mb']} MB)",
              flush=True)
        entry = {"after": t_new, "metrics": got_new}
        if name == "popularity" and n > skip_old_popularity_over:
            entry["before"] = "not run (its per-user loop over the whole catalog; see --old-popularity-max)"
        else:
            got_old, t_old = timed(old.evaluate_as_served, model, hold, train, 10)
            diff = max_diff(got_old, got_new)
            print(f"  {name}: before {t_old['s']:.2f} s ({t_old['cpu_s']:.2f} CPU-s, peak {t_old['peak_rss_mb']} MB),"
                  f" x{t_old['s'] / max(t_new['s'], 1e-9):.1f}; max metric difference {diff:.2e}", flush=True)
            entry.update({"before": t_old, "speedup": round(t_old["s"] / max(t_new["s"], 1e-9), 1),
                          "max_metric_diff": diff})
            if diff > 1e-9:
                raise SystemExit(f"{name} at {label(n)}: metrics differ by {diff:.3e}: {got_old} vs {got_new}")
        row[name] = entry
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1M,5M")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "vodflow-recs-scale"))
    ap.add_argument("--before", default="6fd2400", help="git revision whose evaluate_as_served is 'before'")
    ap.add_argument("--old-popularity-max", type=parse_size, default=parse_size("5M"),
                    help="largest size at which the old popularity evaluation is run")
    ap.add_argument("--profile", action="store_true", help="cProfile the new evaluation of the first size, no write")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    from vodflow.recs import holdout as new

    sizes = [parse_size(s) for s in a.sizes.split(",")]
    if a.profile:
        import cProfile
        import pstats

        fm, pop, hold, train = build_case(sizes[0], a.seed, Path(a.data_dir))
        mod = load_revision(a.before) if os.environ.get("PROFILE_OLD") else new
        for model in (fm, pop):
            prof = cProfile.Profile()
            prof.runcall(mod.evaluate_as_served, model, hold, train, 10)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return 0
    old = load_revision(a.before)
    load0 = uptime()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = {label(n): run_size(n, a.seed, Path(a.data_dir), old, new, a.old_popularity_max) for n in sizes}
    load1 = uptime()
    print(f"load: {load0} -> {load1}", flush=True)
    if not a.no_write:
        merge_results(a.results, {"eval_as_served": {
            "date": started, "commit": commit(), "before": a.before, "uptime_start": load0, "uptime_end": load1,
            "command": "/work/notes/heavy .venv/bin/python bench/recs_eval.py --sizes " + a.sizes,
            "sizes": rows}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
