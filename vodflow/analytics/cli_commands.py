"""Analyst commands: ``vodflow sql``, ``vodflow tables``, ``vodflow stream``, ``vodflow report dropoff``.

No JVM: the Delta tables are read with delta-rs and queried with DuckDB (:mod:`.query`). Registered
in ``vodflow/cli.py`` with ``register(app)``; heavy imports happen inside the commands.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import typer

FORMATS = ("table", "csv", "json")


def _console(stderr: bool = False):
    from rich.console import Console

    probe = Console(stderr=stderr)
    return Console(stderr=stderr, width=None if probe.is_terminal else 160)


def _fail(msg: str, code: int = 1) -> None:
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(msg)}", soft_wrap=True)
    raise typer.Exit(code)


def _json_value(v: Any) -> Any:
    """A JSON-friendly version of a value from Arrow (dates/timestamps as ISO-8601 strings)."""
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, timedelta):
        return str(v)
    if type(v).__name__ == "MonthDayNano":  # a DuckDB INTERVAL, e.g. now() - max(client_ts)
        months, days, ns = v
        return (f"{months} months " if months else "") + str(timedelta(days=days, microseconds=ns // 1000))
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, (list, dict)):
        return json.dumps(_json_value(v), separators=(",", ":"))
    return str(_json_value(v))


def write_result(table, fmt: str, out=None, title: str | None = None) -> None:
    """Print an Arrow table as a rich table, CSV or a JSON array of objects."""
    out = out or sys.stdout
    rows = table.to_pylist()
    names = table.column_names
    if fmt == "json":
        out.write(json.dumps([{k: _json_value(v) for k, v in r.items()} for r in rows], indent=1) + "\n")
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(names)
        for r in rows:
            w.writerow([_cell(r[n]) for n in names])
    else:
        import pyarrow as pa
        from rich.table import Table

        t = Table(title=title, show_lines=False)
        for f in table.schema:
            numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
            t.add_column(f.name, justify="right" if numeric else "left", overflow="fold")
        for r in rows:
            t.add_row(*["[dim]null[/]" if r[n] is None else _escape(_table_cell(r[n])) for n in names])
        _console().print(t)


def _table_cell(v: Any) -> str:
    return str(v) if isinstance(v, datetime) else _cell(v)   # "2025-06-01 12:00:00+00:00" reads better here


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)


def register(app: typer.Typer) -> None:
    """Add ``sql``, ``sync-titles``, ``tables``, ``stream`` and ``report dropoff`` to the ``vodflow`` Typer app."""

    @app.command("sql")
    def sql_cmd(
        query: str = typer.Argument(..., help="DuckDB SQL over the tables, e.g. \"SELECT * FROM vodflow.title_daily\" "
                                              "('-' reads the query from stdin)."),
        fmt: str = typer.Option("table", "--format", "-f", help="Output: table, csv or json."),
        limit: int = typer.Option(1000, "--limit", "-n", min=0, help="At most this many rows (0 = all)."),
    ) -> None:
        """Query the analytics Delta tables with SQL (DuckDB dialect, no JVM): `<table>` or `vodflow.<table>`."""
        from vodflow.analytics.query import AnalyticsError, run_sql
        from vodflow.settings import get_settings

        if fmt not in FORMATS:
            raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
        if query == "-":
            query = sys.stdin.read()
        try:
            res = run_sql(query, get_settings(), limit=limit + 1 if limit else None)
        except AnalyticsError as e:
            _fail(str(e))
        truncated = bool(limit) and res.num_rows > limit
        if truncated:
            res = res.slice(0, limit)
        write_result(res, fmt)
        if fmt == "table":
            more = f" (first {limit}; more with --limit 0)" if truncated else ""
            _console(stderr=True).print(f"[dim]{res.num_rows} row{'s' if res.num_rows != 1 else ''}{more}[/]")
        elif truncated:
            _console(stderr=True).print(f"[yellow]output limited to {limit} rows: use --limit 0 for all[/]")

    @app.command("sync-titles")
    def sync_titles_cmd() -> None:
        """Bring the lake's titles dimension (vodflow.titles) in step with the catalog now (the hourly
        analytics_maintenance DAG does it too; each publish writes its title)."""
        from vodflow.analytics.titles import sync
        from vodflow.settings import get_settings

        s = get_settings()
        try:
            r = sync(s)
        except Exception as e:  # noqa: BLE001 - catalog or lake unreachable: one clean line, no traceback
            _fail(f"cannot sync vodflow.titles (catalog {s.catalog_db_url}, lake {s.lake_uri}): "
                  f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        typer.echo(f"vodflow.titles: {r.titles} titles; wrote {r.written}, marked {r.deleted} deleted"
                   + (f" (Delta version {r.version})" if r.version is not None else ""))

    @app.command("tables")
    def tables_cmd(markdown: bool = typer.Option(False, "--markdown",
                                                 help="Print every table's schema as markdown (docs/analytics.md).")
                   ) -> None:
        """List the analytics tables: location, rows, Delta version and last commit time."""
        from rich.table import Table

        from vodflow.analytics.query import NOT_WRITTEN_HINT, AnalyticsError, table_info, tables_markdown
        from vodflow.analytics.tables import DATABASE
        from vodflow.settings import get_settings

        if markdown:
            typer.echo(tables_markdown(), nl=False)
            return
        s = get_settings()
        try:
            infos = table_info(s)
        except AnalyticsError as e:
            _fail(str(e))
        t = Table(title=f"analytics tables in {s.lake_uri}")
        for col, just in (("table", "left"), ("rows", "right"), ("version", "right"), ("last modified (UTC)", "left"),
                          ("location", "left")):
            t.add_column(col, justify=just, overflow="fold")
        for i in infos:
            if not i.exists:
                t.add_row(f"{DATABASE}.{i.name}", "[dim]-[/]", "[dim]-[/]", "[dim]not written yet[/]",
                          _escape(i.location))
            elif i.error:
                t.add_row(f"{DATABASE}.{i.name}", "[red]?[/]", str(i.version if i.version is not None else "?"),
                          f"[red]unreadable: {_escape(i.error)}[/]", _escape(i.location))
            else:
                when = i.last_modified.strftime("%Y-%m-%d %H:%M:%S") if i.last_modified else "?"
                t.add_row(f"{DATABASE}.{i.name}", f"{i.rows:,}", str(i.version), when, _escape(i.location))
        _console().print(t)
        if not any(i.exists for i in infos):
            _console().print(f"No table yet: {NOT_WRITTEN_HINT}.")

    @app.command("stream")
    def stream_cmd(last: int = typer.Option(20, "--last", "-n", min=1, help="How many recent micro-batches."),
                   as_json: bool = typer.Option(False, "--json", help="JSON instead of a table.")) -> None:
        """The analytics stream's recent micro-batches: records, events into gold, quarantined, p99 freshness
        and the seconds each step took (from gold_progress)."""
        from rich.table import Table

        from vodflow.analytics.stream_progress import recent_batches
        from vodflow.settings import get_settings

        s = get_settings()
        batches = recent_batches(s, last)
        if as_json:
            typer.echo(json.dumps([_json_value(b.__dict__) for b in batches], indent=1))
            return
        if not batches:
            _console().print("The stream has not committed a batch yet: start it with `vodflow up` "
                             "(service analytics-stream) and send events (`vodflow events simulate`).")
            return
        steps = list(dict.fromkeys(k for b in reversed(batches) for k in b.steps))
        t = Table(title=f"analytics stream: last {len(batches)} batches (seconds per step)")
        for col in ("batch", "committed (UTC)", "records", "events", "quarantined", "p99 fresh s", "total s", *steps):
            t.add_column(col, justify="left" if col.startswith("committed") else "right")
        fmt = lambda v: "" if v is None else (f"{v:,.1f}" if isinstance(v, float) else f"{v:,}")  # noqa: E731
        for b in batches:
            t.add_row(str(b.batch_id), b.committed_at.strftime("%Y-%m-%d %H:%M:%S"), fmt(b.rows), fmt(b.events),
                      fmt(b.quarantined), fmt(b.freshness_p99_s), fmt(b.total_s), *[fmt(b.steps.get(k)) for k in steps])
        _console().print(t)

    report_app = typer.Typer(help="Charts from the analytics tables.", no_args_is_help=True)

    @report_app.command("dropoff")
    def dropoff_cmd(
        video_id: str = typer.Argument(..., metavar="VIDEO",
                                       help="Catalog id of the title, or its name (as in vodflow.titles)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default dropoff_<VIDEO_ID>.png)."),
        days: int = typer.Option(0, "--days", min=0, help="Only the last N days, today (UTC) included; 0 = all days."),
    ) -> None:
        """Drop-off chart of a title (PNG), headed by its name: share of views still watching along the title."""
        from vodflow.analytics.query import AnalyticsError
        from vodflow.analytics.report import dropoff_chart, dropoff_data
        from vodflow.settings import get_settings

        try:
            d = dropoff_data(video_id, get_settings(), days=days)
        except AnalyticsError as e:
            _fail(str(e))
        path = dropoff_chart(d, out or Path(f"dropoff_{d.video_id}.png"))
        _console(stderr=True).print(
            f"[dim]{_escape(d.title) + ': ' if d.title else ''}{d.views:,} views, completion rate {100 * d.completion_rate:.1f} %, "
            f"{d.first_date} to {d.last_date}[/]")
        typer.echo(str(path))

    app.add_typer(report_app, name="report")
