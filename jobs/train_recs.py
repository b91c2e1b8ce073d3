"""Train the recommender from the Delta user-title table (the Spark side of `recs_training`).

    spark-submit --master local[2] jobs/train_recs.py --out /tmp/recs
    vodflow submit jobs/train_recs.py --ranks 8,16 --reg-params 0.1,0.3 --mlflow

Reads the table at its latest version (or --version: Delta time travel), holds out each
user's newest titles, searches the ALS grid on a validation split of train, refits the
best, scores it on the holdout, and writes factors.npz / train.parquet / holdout.parquet /
tuning.json to --out.  With --mlflow the run is logged to the MLflow server exactly as
the DAG's `train` task logs it (register and promote it with the DAG, or from the UI).
Prints a JSON summary on the last line.
"""

from __future__ import annotations

import argparse
import json


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    from vodflow.analytics.tables import USER_TITLE
    from vodflow.recs.defaults import TRAINING as D

    def csv(xs) -> str:
        return ",".join(f"{x:g}" for x in xs)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default=USER_TITLE.path,
                    help=f"Delta table: a path/URI, or a name under VODFLOW_LAKE_URI (default {USER_TITLE.path})")
    ap.add_argument("--version", type=int, default=None, help="Delta version to read (default: latest)")
    ap.add_argument("--ranks", type=_ints, default=None, help=f"comma-separated ALS ranks (default {csv(D.ranks)})")
    ap.add_argument("--reg-params", type=_floats, default=None,
                    help=f"comma-separated regParam values (default {csv(D.reg_params)})")
    ap.add_argument("--alphas", type=_floats, default=None,
                    help=f"comma-separated alpha values (default {csv(D.alphas)})")
    ap.add_argument("--max-iter", type=int, default=None, help=f"ALS iterations (default {D.max_iter})")
    ap.add_argument("--holdout-fraction", type=float, default=None,
                    help=f"newest titles per user held out (default {D.holdout_fraction:g})")
    ap.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    ap.add_argument("--mlflow", action="store_true", help="log the run to the MLflow server (VODFLOW_MLFLOW_URI)")
    ap.add_argument("--experiment", default=None, help="MLflow experiment (default vodflow-recs)")
    args = ap.parse_args(argv)

    import tempfile

    from vodflow.recs.als import ensure_checkpoint_dir
    from vodflow.recs.training_run import TrainConfig, run_training
    from vodflow.settings import get_settings
    from vodflow.spark import get_spark

    s = get_settings()
    table = args.table if ("://" in args.table or args.table.startswith("/")) else s.table_path(args.table)
    cfg = TrainConfig.from_dict({"table_path": table, "table_version": args.version, "ranks": args.ranks,
                                 "reg_params": args.reg_params, "alphas": args.alphas, "max_iter": args.max_iter,
                                 "holdout_fraction": args.holdout_fraction})
    spark = get_spark("train-recs", s)
    ensure_checkpoint_dir(spark)
    with tempfile.TemporaryDirectory(prefix="train-recs-") as tmp:
        result = run_training(spark, cfg, args.out or tmp)
        summary = result.summary()
        if args.mlflow:
            from vodflow.recs import registry

            summary["mlflow_run_id"] = registry.log_training(
                result, cfg, s, experiment=args.experiment or registry.EXPERIMENT,
                tags={"vodflow.submitted_by": "jobs/train_recs.py"})
    m = result.metrics
    print(f"train_recs: {table} v{result.table_version}: best rank={result.best.rank} "
          f"regParam={result.best.reg_param} alpha={result.best.alpha}; holdout nDCG@{cfg.k}="
          f"{m[f'ndcg_at_{cfg.k}']:.4f} (popularity {result.baseline[f'ndcg_at_{cfg.k}']:.4f})")
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
