"""Small Delta writes without the JVM: delta-rs for the gold tables, the titles dimension and the
stream's progress rows.

Why: a Spark MERGE into a small table costs a snapshot, a source materialisation, a scan and a
rewrite - ~8 Spark jobs, seconds on a small machine, for a few hundred rows. delta-rs does the same
MERGE in-process in tens of milliseconds. The tables stay ordinary Delta tables (Spark, the
``deltalake`` reader behind ``vodflow sql`` and the maintenance DAG's OPTIMIZE all read and write them).

Rules:

* **Exactly once per batch.** A stream write carries Delta's ``txn`` action (``app_id`` = the
  query's name + id, ``version`` = the batch id) - the same action Spark's ``txnAppId`` /
  ``txnVersion`` write, so a table written by either keeps one history. :func:`write` skips a
  write whose version the table already holds for that app id.
* **Conflicts are retried**: a commit that lost an optimistic-concurrency race (OPTIMIZE, another
  writer) did not happen; the table is re-read and the write (with its check) done again.
* On S3, object stores have no atomic rename: ``conditional_put=etag`` makes a second put of the same
  log entry fail, so two writers can never both commit version N.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable, TypeVar

from vodflow.analytics.tables import Table
from vodflow.clients import delta_storage_options
from vodflow.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from deltalake import DeltaTable

log = logging.getLogger("vodflow.analytics")

COMMIT_ATTEMPTS = 5
R = TypeVar("R")


def storage_options(s: Settings) -> dict[str, str] | None:
    opts = delta_storage_options(s)
    if opts is not None:
        opts = {**opts, "conditional_put": "etag"}
    return opts


def open_table(table: Table, s: Settings, create: bool = False) -> "DeltaTable | None":
    """The table (None when it does not exist and ``create`` is false); created empty with the
    declared schema and properties when ``create``."""
    from deltalake import DeltaTable

    from vodflow.analytics.query import arrow_schema

    loc, opts = table.location(s), storage_options(s)
    if DeltaTable.is_deltatable(loc, opts):
        return DeltaTable(loc, storage_options=opts)
    if not create:
        return None
    return DeltaTable.create(loc, schema=arrow_schema(table), mode="ignore", name=table.name,
                             description=table.doc, configuration=table.properties(),
                             partition_by=list(table.partition_by) or None, storage_options=opts)


def conform(rows, table: Table):
    """``rows`` (an Arrow table with the table's columns, any order, compatible types) cast to the
    table's declared Arrow schema."""
    from vodflow.analytics.query import arrow_schema

    schema = arrow_schema(table)
    return rows.select(schema.names).cast(schema)


def committed(dt: "DeltaTable", app_id: str, version: int) -> bool:
    """True when ``dt`` already holds write ``version`` (or a later one) of ``app_id``."""
    have = dt.transaction_version(app_id)
    return have is not None and have >= version


def commit_properties(app_id: str | None, version: int | None):
    from deltalake import CommitProperties, Transaction

    if app_id is None:
        return CommitProperties()
    return CommitProperties(app_transactions=[Transaction(app_id=app_id, version=version,
                                                          last_updated=int(time.time() * 1000))])


def write(table: Table, s: Settings, fn: Callable[["DeltaTable", object], R], *, app_id: str | None = None,
          version: int | None = None) -> R | None:
    """Run ``fn(dt, commit_properties)`` - one commit to ``table`` - once per (app_id, version):
    skipped (None) when the table already holds it; retried on a commit conflict."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        dt = open_table(table, s, create=True)
        if app_id is not None and committed(dt, app_id, version):
            log.info("%s: batch %s already committed, skipped", table.name, version)
            return None
        try:
            return fn(dt, commit_properties(app_id, version))
        except CommitFailedError as e:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s: commit conflict (%s), retrying %d/%d", table.name, str(e).splitlines()[0],
                        attempt, COMMIT_ATTEMPTS)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def append(table: Table, rows, s: Settings, *, app_id: str | None = None, version: int | None = None) -> None:
    """Append ``rows`` (Arrow) to ``table`` once per (app_id, version)."""
    from deltalake import write_deltalake

    data = conform(rows, table)

    def go(dt, props):
        write_deltalake(dt, data, mode="append", commit_properties=props)

    write(table, s, go, app_id=app_id, version=version)
