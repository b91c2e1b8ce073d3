"""Query the analytics Delta tables without a JVM: delta-rs (``deltalake``) + DuckDB.

Every table of :data:`vodflow.analytics.tables.TABLES` that exists at its location is opened with
``deltalake.DeltaTable`` and registered in an in-memory DuckDB connection as a PyArrow dataset, under
its name (``title_daily``) and as ``vodflow.<name>`` (a view in the DuckDB schema ``vodflow``), so the
same ``vodflow.title_daily`` works here and in Spark SQL. DuckDB pushes projections and filters into
the dataset scan: partition values and per-file statistics prune files before anything is read.

Tables that use Delta reader features the PyArrow dataset cannot represent (deletion vectors, column
mapping, v2 checkpoints) are read through delta-rs' own engine (``deltalake.QueryBuilder``, which
applies them) and loaded into memory instead; :func:`connect` only opens the tables a query names.

A snapshot is taken when a table is registered: a connection keeps answering from the versions it
opened. ``vodflow sql`` / ``vodflow tables`` are thin wrappers (``cli_commands.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from vodflow.analytics.tables import DATABASE, TABLES, Table
from vodflow.clients import REMOTE_SCHEMES, delta_storage_options
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # heavy imports stay lazy: the CLI imports this module at start-up
    import duckdb
    import pyarrow as pa

NOT_WRITTEN_HINT = "tables appear once the streaming job has written them (`vodflow up` runs it)"


class AnalyticsError(RuntimeError):
    """A user-facing error: the message says what is wrong and what to do (no traceback needed)."""


class UnknownTableError(AnalyticsError):
    pass


class QueryError(AnalyticsError):
    pass


# -- storage -----------------------------------------------------------------------------------------

def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def storage_options(s: Settings) -> dict[str, str] | None:
    """delta-rs options for the lake (None for a local lake): :func:`vodflow.clients.delta_storage_options`."""
    return delta_storage_options(s)


def open_table(t: Table, s: Settings | None = None):
    """The ``deltalake.DeltaTable`` of ``t``, or None when nothing has been written there yet."""
    from deltalake import DeltaTable

    s = s or get_settings()
    loc, opts = t.location(s), storage_options(s)
    try:
        if not DeltaTable.is_deltatable(loc, opts):
            return None
        return DeltaTable(loc, storage_options=opts)
    except OSError as e:  # object store unreachable, bad credentials, ...
        raise AnalyticsError(f"cannot read the lake at {s.lake_uri} (table {t.name}): {_first_last(e)}") from None


def _first_last(e: Exception) -> str:
    """object_store errors are a chain of lines: keep the first (what) and the last (why), without colours."""
    lines = [re.sub(r"\x1b\[[0-9;]*m|↳", "", x).strip() for x in str(e).splitlines()]
    lines = [x for x in lines if x] or [type(e).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]}: {lines[-1]}"


def existing_tables(s: Settings | None = None, names: Iterable[str] | None = None) -> dict:
    """``{name: DeltaTable}`` for the tables of :data:`TABLES` (or of ``names``) that exist."""
    s = s or get_settings()
    out = {}
    for name in names if names is not None else TABLES:
        dt = open_table(TABLES[name], s)
        if dt is not None:
            out[name] = dt
    return out


def _pyarrow_source(name: str, dt):
    """A PyArrow dataset of the table (lazy, filters push down); in memory if it needs delta-rs' reader."""
    from deltalake.exceptions import DeltaProtocolError

    import pyarrow.dataset as pads

    try:
        # Spark may write TIMESTAMP as Parquet INT96: read it as microseconds (no nanosecond overflow)
        return dt.to_pyarrow_dataset(parquet_read_options=pads.ParquetReadOptions(coerce_int96_timestamp_unit="us"))
    except DeltaProtocolError:
        import pyarrow as pa
        from deltalake import QueryBuilder

        return pa.table(QueryBuilder().register(name, dt).execute(f'SELECT * FROM "{name}"'))


# -- DuckDB ------------------------------------------------------------------------------------------

def referenced_tables(sql: str) -> list[str]:
    """Names of :data:`TABLES` that appear as words in ``sql`` (all of them if none does)."""
    found = [n for n in TABLES if re.search(rf"\b{re.escape(n)}\b", sql, re.I)]
    return found or list(TABLES)


def connect(s: Settings | None = None, tables: Iterable[str] | None = None) -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB connection with every existing table (or those of ``tables``) registered.

    Each table is ``<name>`` and ``vodflow.<name>``. The session time zone is UTC (like the tables).
    """
    import duckdb

    s = s or get_settings()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}")
    for name, dt in existing_tables(s, tables).items():
        try:
            source = _pyarrow_source(name, dt)
        except Exception as e:  # noqa: BLE001 - a reader feature even delta-rs' engine lacks
            con.close()
            raise AnalyticsError(f"cannot read table {name} at {TABLES[name].location(s)} with delta-rs: "
                                 f"{str(e).splitlines()[0]} (protocol {dt.protocol()})") from None
        con.register(name, source)
        con.execute(f'CREATE OR REPLACE VIEW {DATABASE}."{name}" AS SELECT * FROM temp.main."{name}"')
    return con


def _missing_table(msg: str) -> str | None:
    m = re.search(r'Table with name "?([\w.]+?)"? does not exist', msg)
    return m.group(1).split(".")[-1] if m else None


def _explain(e: Exception, s: Settings) -> AnalyticsError:
    """Turn a DuckDB error into a short message with the hint that helps."""
    msg = str(e).strip()
    missing = _missing_table(msg) if type(e).__name__ == "CatalogException" else None
    if missing is None:
        return QueryError(f"{msg}\n(tables: {_names_hint(s)}; columns: `DESCRIBE <table>` or docs/analytics.md)")
    existing = sorted(existing_tables(s))
    have = ", ".join(existing) if existing else f"none yet under {s.lake_uri}"
    if missing in TABLES:
        hint = f"{TABLES[missing].fill_hint}; {NOT_WRITTEN_HINT}" if TABLES[missing].fill_hint else NOT_WRITTEN_HINT
        return UnknownTableError(f"table {missing} has not been written yet under {s.lake_uri}: {hint}. "
                                 f"Existing tables: {have}.")
    pending = [n for n in TABLES if n not in existing]
    later = f" Not written yet: {', '.join(pending)} - {NOT_WRITTEN_HINT}." if pending else ""
    return UnknownTableError(f"unknown table {missing}. Existing tables: {have}.{later}")


def _names_hint(s: Settings) -> str:
    names = sorted(existing_tables(s))
    return ", ".join(names) if names else f"none yet under {s.lake_uri} - {NOT_WRITTEN_HINT}"


def run_sql(sql: str, s: Settings | None = None, limit: int | None = None,
            params: list | dict | None = None) -> "pa.Table":
    """Run one DuckDB SQL query over the lake and return its result (at most ``limit`` rows).

    Integer sums (HUGEINT in DuckDB) come back as int64 when they fit.

    Raises :class:`UnknownTableError` / :class:`QueryError` with a readable message.
    """
    import duckdb
    import pyarrow as pa

    s = s or get_settings()
    if not sql.strip():
        raise QueryError("empty query")
    con = connect(s, referenced_tables(sql))
    try:
        rel = con.sql(sql, params=params)
        if rel is None:  # a statement without a result (SET, CREATE VIEW ...)
            return pa.table({})
        if limit is not None:
            rel = rel.limit(limit)
        return _plain_integers(rel.to_arrow_table())
    except duckdb.Error as e:
        raise _explain(e, s) from None
    finally:
        con.close()


def _plain_integers(t: "pa.Table") -> "pa.Table":
    """DuckDB sums integers as HUGEINT (Arrow decimal128(38, 0)): give them back as int64 when they fit."""
    import pyarrow as pa

    for i, f in enumerate(t.schema):
        if pa.types.is_decimal(f.type) and f.type.scale == 0:
            try:
                t = t.set_column(i, pa.field(f.name, pa.int64(), f.nullable), t.column(i).cast(pa.int64()))
            except pa.ArrowInvalid:  # does not fit: keep the decimal
                pass
    return t


# -- table information ---------------------------------------------------------------------------------

@dataclass
class TableInfo:
    name: str
    location: str
    exists: bool
    rows: int | None = None
    version: int | None = None
    last_modified: datetime | None = None
    error: str | None = None


def table_info(s: Settings | None = None) -> list[TableInfo]:
    """Every table of :data:`TABLES`: location, and if written, row count, Delta version, last commit time."""
    s = s or get_settings()
    out = []
    for name, t in TABLES.items():
        dt = open_table(t, s)
        info = TableInfo(name, t.location(s), dt is not None)
        if dt is not None:
            try:
                info.version = dt.version()
                hist = dt.history(1)
                if hist and hist[0].get("timestamp"):
                    info.last_modified = datetime.fromtimestamp(hist[0]["timestamp"] / 1000, timezone.utc)
                info.rows = _count_rows(name, dt)
            except Exception as e:  # noqa: BLE001 - one unreadable table must not hide the others
                info.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        out.append(info)
    return out


def _count_rows(name: str, dt) -> int:
    """Row count from the Delta log's file statistics when complete, else by scanning."""
    from deltalake.exceptions import DeltaProtocolError

    try:
        ds = dt.to_pyarrow_dataset()
    except DeltaProtocolError:  # deletion vectors etc.: let delta-rs count
        from deltalake import QueryBuilder

        # counted over a column: delta-rs 1.4 answers count(*) on a table with deletion vectors with 1
        c = dt.schema().fields[0].name
        res = QueryBuilder().register(name, dt).execute(
            f'SELECT count("{c}") + count(*) FILTER (WHERE "{c}" IS NULL) AS n FROM "{name}"').read_all()
        return int(res.column(0)[0].as_py())
    import pyarrow as pa
    import pyarrow.compute as pc

    actions = pa.table(dt.get_add_actions(flatten=True))
    if "num_records" in actions.column_names and actions.column("num_records").null_count == 0:
        return int(pc.sum(actions.column("num_records")).as_py() or 0)
    return ds.count_rows()


# -- schemas -------------------------------------------------------------------------------------------

_SIMPLE_TYPES = {"STRING": "string", "INT": "int32", "BIGINT": "int64", "DOUBLE": "float64",
                 "BOOLEAN": "bool_", "DATE": "date32"}


def arrow_type(spark_type: str) -> "pa.DataType":
    """The Arrow type delta-rs/Spark use for a Spark SQL type of :mod:`tables` (TIMESTAMP is UTC, µs)."""
    import pyarrow as pa

    t = spark_type.strip().upper()
    if t in _SIMPLE_TYPES:
        return getattr(pa, _SIMPLE_TYPES[t])()
    if t == "TIMESTAMP":
        return pa.timestamp("us", tz="UTC")
    m = re.fullmatch(r"ARRAY<(.+)>", t)
    if m:
        return pa.list_(arrow_type(m.group(1)))
    m = re.fullmatch(r"MAP<\s*([^,]+?)\s*,\s*(.+)>", t)
    if m:
        return pa.map_(arrow_type(m.group(1)), arrow_type(m.group(2)))
    raise ValueError(f"no Arrow type for Spark SQL type {spark_type!r}")


def arrow_schema(t: Table) -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field(n, arrow_type(typ)) for n, typ, _ in t.columns])


def tables_markdown() -> str:
    """The schema of every table as markdown (the reference section of ``docs/analytics.md``)."""
    lines: list[str] = []
    for t in TABLES.values():
        lines += [f"### `{DATABASE}.{t.name}`", ""]
        if t.doc:
            lines += [t.doc, ""]
        facts = [f"Path `{t.path}`"]
        if t.partition_by:
            facts.append("partitioned by " + ", ".join(f"`{c}`" for c in t.partition_by))
        if t.cluster_by:
            facts.append("clustered (Z-order) by " + ", ".join(f"`{c}`" for c in t.cluster_by))
        lines += ["; ".join(facts) + ".", "", "| column | type | description |", "| --- | --- | --- |"]
        lines += [f"| `{n}` | `{typ}` | {desc.replace('|', '/')} |" for n, typ, desc in t.columns]
        lines.append("")
    return "\n".join(lines)
