"""Which Delta commits count as changed user-title rows, and which asset event was announced last."""

from __future__ import annotations

from types import SimpleNamespace

from vodflow.recs.retrain_trigger import changed_rows, last_announced_version


def test_changed_rows_per_operation():
    merge = {"operation": "MERGE", "operationMetrics": {"numTargetRowsInserted": "3", "numTargetRowsUpdated": "5",
                                                        "numTargetRowsDeleted": "1", "numOutputRows": "9"}}
    assert changed_rows(merge) == 9
    assert changed_rows({"operation": "WRITE", "operationMetrics": {"numOutputRows": "7"}}) == 7
    assert changed_rows({"operation": "DELETE", "operationMetrics": {"numDeletedRows": "2"}}) == 2
    # rewrites and maintenance change no rows
    assert changed_rows({"operation": "OPTIMIZE", "operationMetrics": {"numAddedFiles": "1"}}) == 0
    assert changed_rows({"operation": "VACUUM END", "operationMetrics": {}}) == 0
    assert changed_rows({"operation": "SET TBLPROPERTIES"}) == 0


def test_last_announced_version_skips_events_without_one():
    ev = [SimpleNamespace(extra={}), SimpleNamespace(extra={"version": 12}), SimpleNamespace(extra={"version": 7})]
    assert last_announced_version(ev) == 12          # newest first: the hand-made event without a version is skipped
    assert last_announced_version([]) is None
