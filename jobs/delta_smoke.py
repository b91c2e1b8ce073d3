"""Append a row to the `smoke` Delta table and print the row count.

    spark-submit --master local[2] jobs/delta_smoke.py --table smoke
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", default="smoke", help="table name under VODFLOW_LAKE_URI")
    args = ap.parse_args(argv)

    import time

    from vodflow.settings import get_settings
    from vodflow.spark import get_spark

    s = get_settings()
    spark = get_spark("delta-smoke", s)
    path = s.table_path(args.table)
    spark.createDataFrame([(int(time.time()), "spark-submit")], "ts long, status string") \
        .write.format("delta").mode("append").save(path)
    n = spark.read.format("delta").load(path).count()
    print(f"delta_smoke: {path} has {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
