"""When has the user-title table changed enough to retrain the recommender?

The analytics stream MERGEs into ``gold/user_title`` every few seconds; an Airflow asset event
per commit would retrain the model constantly. Instead ``analytics_maintenance`` (hourly) asks
:func:`decide`: it reads the Delta log (delta-rs, no JVM) from the version announced last time
and sums the rows the commits inserted, updated or deleted. When that reaches
``VODFLOW_RECS_RETRAIN_MIN_CHANGES`` the task emits an event on the ``vodflow_gold_user_title``
asset with the table version in its extra, which starts ``recs_training``; otherwise it is skipped
and says why. The nightly 03:00 schedule of ``recs_training`` still runs regardless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from vodflow.settings import Settings, get_settings

# operationMetrics keys that count changed rows, per Delta operation
_CHANGED_KEYS = ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted",  # MERGE (Spark)
                 "num_target_rows_inserted", "num_target_rows_updated",                    # MERGE (delta-rs,
                 "num_target_rows_deleted",                                                #  the stream's gold)
                 "numUpdatedRows", "numDeletedRows")                                      # UPDATE / DELETE
_WRITE_OPS = {"WRITE", "STREAMING UPDATE", "CREATE TABLE AS SELECT", "REPLACE TABLE AS SELECT",
              "CREATE OR REPLACE TABLE AS SELECT"}


@dataclass(frozen=True)
class Decision:
    announce: bool
    version: int | None          # table version now (None: no table yet)
    since_version: int | None    # version announced last time (None: never)
    changed_rows: int
    threshold: int
    reason: str

    def extra(self) -> dict[str, Any]:
        """What the asset event carries: enough to reproduce the training input with time travel."""
        return {"version": self.version, "since_version": self.since_version, "changed_rows": self.changed_rows}


def changed_rows(commit: Mapping[str, Any]) -> int:
    """Rows a single Delta commit inserted, updated or deleted (0 for OPTIMIZE, VACUUM, metadata)."""
    op = str(commit.get("operation", "")).upper()
    m = commit.get("operationMetrics") or {}
    if op in _WRITE_OPS:
        return int(m.get("numOutputRows", m.get("num_added_rows", 0)) or 0)
    if op in ("MERGE", "UPDATE", "DELETE"):
        return sum(int(m.get(k, 0) or 0) for k in _CHANGED_KEYS)
    return 0  # OPTIMIZE rewrites the same rows; VACUUM, SET TBLPROPERTIES, CREATE TABLE change none


def decide(table_uri: str, since_version: int | None, threshold: int,
           storage_options: Mapping[str, str] | None = None) -> Decision:
    """Compare the table at ``table_uri`` with the version announced last (``since_version``)."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(table_uri, dict(storage_options or {}) or None):
        return Decision(False, None, since_version, 0, threshold,
                        f"{table_uri} does not exist yet: the analytics stream creates it with its first batch")
    dt = DeltaTable(table_uri, storage_options=dict(storage_options or {}) or None)
    version = dt.version()
    if since_version is not None and version <= since_version:
        return Decision(False, version, since_version, 0, threshold,
                        f"no commit since version {since_version} (announced last time)")
    start = -1 if since_version is None else since_version
    # history() is newest first; its limit counts commits, so ask for exactly the ones after `start`
    commits = [c for c in dt.history(limit=version - start) if int(c.get("version", -1)) > start]
    n = sum(changed_rows(c) for c in commits)
    where = "since the table was created" if since_version is None else f"since version {since_version}"
    if n >= threshold and (n > 0 or threshold == 0) and commits:
        return Decision(True, version, since_version, n, threshold,
                        f"{n} rows changed in {len(commits)} commits {where} (threshold {threshold})")
    return Decision(False, version, since_version, n, threshold,
                    f"only {n} rows changed in {len(commits)} commits {where}; retraining waits for {threshold} "
                    "(VODFLOW_RECS_RETRAIN_MIN_CHANGES) or the nightly run")


def decide_for_settings(since_version: int | None, s: Settings | None = None) -> Decision:
    """:func:`decide` for the configured user-title table and threshold."""
    from vodflow.analytics.tables import USER_TITLE
    from vodflow.clients import delta_storage_options

    s = s or get_settings()
    return decide(USER_TITLE.location(s), since_version, int(s["VODFLOW_RECS_RETRAIN_MIN_CHANGES"]),
                  delta_storage_options(s))


def last_announced_version(events_newest_first: Any) -> int | None:
    """The table version in the newest asset event that carries one.

    ``events_newest_first``: Airflow's ``inlet_events[asset].ascending(False).limit(n)``; events
    without a version (e.g. created by hand in the UI) are passed over.
    """
    for ev in events_newest_first:
        v = (getattr(ev, "extra", None) or {}).get("version")
        if v is not None:
            return int(v)
    return None
