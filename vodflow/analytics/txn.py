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
    tables carry the same pair through delta-rs, :mod:`vodflow.analytics.lake_rs`).

    ``local``: the batch is small (``VODFLOW_EVENTS_LOCAL_ROWS``), so its appends are collected to the
    driver as Arrow and committed by delta-rs - the same rows, the same txn pair, no Spark Delta
    commit (write job, post-commit snapshot, the next reader's snapshot refresh: seconds per table on a
    small machine). Either writer skips a batch the table already holds from the other."""

    def __init__(self, app_id: str, batch_id: int, local: bool = False):
        self.app_id, self.version, self.local = app_id, batch_id, local

    def sized(self, rows: int, local_rows: int) -> "Txn":
        """This batch's Txn, local when it has at most ``local_rows`` records (0: never)."""
        return Txn(self.app_id, self.version, local=0 < rows <= local_rows)

    def opts(self) -> dict[str, str]:
        return {"txnAppId": self.app_id, "txnVersion": str(self.version)}

    def append(self, df, table: T.Table, s: Settings, sort_by: str | None = None) -> None:
        """Append ``df`` (the table's partitioning comes from the table, created by ``tables.ensure``);
        ``sort_by``: the order rows are written in (the Spark writer sorts within its partitions)."""
        if self.local:
            self.append_arrow(df.toArrow(), table, s, sort_by)
            return
        if sort_by:
            df = df.repartition(*table.partition_by).sortWithinPartitions(sort_by)

        def write() -> None:
            df.write.format("delta").mode("append").options(**self.opts()).save(table.location(s))

        retry_on_conflict(f"append {table.name}", write)

    def append_arrow(self, rows, table: T.Table, s: Settings, sort_by: str | None = None) -> None:
        """Append Arrow ``rows`` through delta-rs, with this batch's txn pair."""
        from vodflow.analytics import lake_rs

        if sort_by and rows.num_rows:
            rows = rows.sort_by(sort_by)
        lake_rs.append(table, rows, s, app_id=self.app_id, version=self.version)


def query_app_id(spark, checkpoint: str, name: str) -> str:
    """``name`` + the query id kept in the checkpoint's ``metadata`` file: stable across restarts,
    new when the checkpoint is reset (batch ids restart at 0 then, and must not be skipped)."""
    row = spark.read.text(f"{checkpoint}/metadata").first()
    return f"{name}-{json.loads(row[0])['id']}"
