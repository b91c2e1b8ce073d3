"""Idempotent Delta writes for one micro-batch: Delta's ``txnAppId`` / ``txnVersion`` pair.

Every write of batch N of a query carries ``txnAppId`` = the query's name + id (stable across
restarts from the same checkpoint) and ``txnVersion`` = N. Delta records the pair in the commit, so
when a batch is replayed after a crash the writes that already committed are skipped and the others
are done: exactly once per table. A write that loses an optimistic-concurrency race (e.g. with the
maintenance DAG's OPTIMIZE) did not commit and, being idempotent, is simply retried
(:func:`retry_on_conflict`, the retry loop of Spark's writes; delta-rs writes retry in
:func:`vodflow.analytics.lake_rs.write`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Callable, TypeVar

from vodflow.analytics import tables as T
from vodflow.settings import Settings

log = logging.getLogger("vodflow.analytics.txn")

CONFLICT_RETRIES = 5
R = TypeVar("R")


def is_conflict(e: Exception) -> bool:
    """Delta's optimistic-concurrency conflicts: the write did not commit and can be retried."""
    text = type(e).__name__ + " " + str(e)[:400]
    return any(k in text for k in ("Concurrent", "MetadataChanged", "METADATA_CHANGED", "ProtocolChanged",
                                   "DELTA_CONCURRENT"))


def retry_on_conflict(what: str, fn: Callable[[], R], retries: int = CONFLICT_RETRIES) -> R:
    """Run ``fn``; on a Delta concurrency conflict wait a little and run it again (up to ``retries``)."""
    for attempt in range(1, retries + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - only Delta's concurrency conflicts are retried
            if not is_conflict(e) or attempt == retries:
                raise
            log.warning("%s: write conflict (%s), retrying %d/%d", what, str(e)[:200], attempt, retries)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


class Txn:
    """Delta idempotent-write options for one micro-batch of one query (Spark's appends; the gold
    tables carry the same pair through delta-rs, :mod:`vodflow.analytics.lake_rs`)."""

    def __init__(self, app_id: str, batch_id: int):
        self.app_id, self.version = app_id, batch_id

    def opts(self) -> dict[str, str]:
        return {"txnAppId": self.app_id, "txnVersion": str(self.version)}

    def append(self, df, table: T.Table, s: Settings) -> None:
        """Append ``df`` (the table's partitioning comes from the table, created by ``tables.ensure``)."""
        def write() -> None:
            df.write.format("delta").mode("append").options(**self.opts()).save(table.location(s))

        retry_on_conflict(f"append {table.name}", write)


def query_app_id(spark, checkpoint: str, name: str) -> str:
    """``name`` + the query id kept in the checkpoint's ``metadata`` file: stable across restarts,
    new when the checkpoint is reset (batch ids restart at 0 then, and must not be skipped)."""
    row = spark.read.text(f"{checkpoint}/metadata").first()
    return f"{name}-{json.loads(row[0])['id']}"
