"""A lake created by an older vodflow gains the columns a newer one declares (the stream crashed
on a gold_progress table from before freshness_hist existed)."""

from __future__ import annotations

import dataclasses

from vodflow.analytics import tables as T
from vodflow.settings import load


def test_ensure_adds_missing_columns_and_keeps_rows(spark, tmp_path):
    s = load({"VODFLOW_LAKE_URI": str(tmp_path / "lake")})
    new = T.GOLD_PROGRESS
    old = dataclasses.replace(new, columns=tuple(c for c in new.columns if c[0] != "freshness_hist"))
    assert T.ensure(spark, s, [old]) == []                 # an older release created the table
    spark.sql(f"INSERT INTO delta.`{old.location(s)}` (batch_id, events) VALUES (7, 100)")
    assert T.ensure(spark, s, [new]) == ["gold_progress.freshness_hist"]
    df = spark.read.format("delta").load(new.location(s))
    assert "freshness_hist" in df.columns
    assert [(r["batch_id"], r["events"], r["freshness_hist"]) for r in df.collect()] == [(7, 100, None)]
    assert T.ensure(spark, s, [new]) == []                 # idempotent
