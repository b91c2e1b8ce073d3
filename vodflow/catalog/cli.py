"""``vodflow videos [--status S]`` and ``vodflow videos show ID``: the catalog from the command line.

Read through the API (:mod:`vodflow.catalog.client`, public catalog reads), so they show what
viewers and the player see. ``show`` exits 1 for a failed title and prints its plain reason, so a
script can tell; ``--follow`` waits until the title is ready or failed.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)
STATUS_STYLE = {"ready": "green", "failed": "red", "processing": "yellow", "uploaded": "cyan"}

videos_app = typer.Typer(help="The catalog: list the titles, show or follow one (`vodflow videos show ID`).",
                         invoke_without_command=True)


def _fail(msg: str) -> None:
    err.print(f"[bold red]error:[/] {escape(msg)}", soft_wrap=True)
    raise typer.Exit(1)


def _url(api_url: Optional[str]) -> str:
    from vodflow.settings import get_settings

    return api_url or get_settings().api_url


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}" if m else f"{s:.1f} s"


API_URL = typer.Option(None, "--api-url", help="API URL (default VODFLOW_API_URL).")


@videos_app.callback()
def videos(ctx: typer.Context,
           status: Optional[str] = typer.Option(None, "--status", help="Only titles in this state: uploaded, "
                                                                        "processing, ready or failed."),
           quiet: bool = typer.Option(False, "--quiet", "-q",
                                      help="Print only the ids, one a line (for scripts: "
                                           "VID=$(vodflow videos --status ready -q | head -1))."),
           api_url: Optional[str] = API_URL) -> None:
    """List the catalog's titles (newest first): id, title, status, duration, rungs and why a title failed."""
    if ctx.invoked_subcommand:
        return
    from vodflow.catalog.client import CatalogUnavailable, Title, list_videos

    url = _url(api_url)
    try:
        titles = [Title.of(r) for r in list_videos(url, status, token=operator_token(url))]
    except CatalogUnavailable as e:
        _fail(str(e))
    if quiet:
        for v in titles:
            typer.echo(v.id)
        return
    t = Table(title=f"vodflow catalog at {url}")
    for col in ("id", "title", "status", "duration", "rungs", "reason"):
        t.add_column(col, overflow="fold")
    for v in titles:
        t.add_row(v.id, escape(v.title), _status(v.status), _duration(v.duration_s), " ".join(v.rungs) or "-",
                  escape(v.reason or ""))
    out.print(t)
    err.print(f"[dim]{len(titles)} title{'s' if len(titles) != 1 else ''}[/]")


def print_title(rec: dict, console: Console = out) -> None:
    """One title's status, duration, ladder and (if it failed) the reason."""
    from vodflow.catalog.client import Title

    v = Title.of(rec)
    console.print(f"[bold]{escape(v.title)}[/]  {v.id}")
    console.print(f"status:   {_status(v.status)}  (ingest attempts {rec.get('ingest_attempts', 0)}, "
                  f"updated {rec.get('updated_at')})")
    console.print(f"duration: {_duration(v.duration_s)}")
    for r in rec.get("renditions") or []:
        measured = r.get("measured_avg_bitrate")
        console.print(f"  {r['name']:>12}  {r['width']}x{r['height']}  declared {r['bandwidth'] / 1000:.0f} kb/s"
                      + (f"  measured avg {measured / 1000:.0f} kb/s" if measured else ""))
    if v.reason:
        console.print(f"reason:   [red]{escape(v.reason)}[/]", soft_wrap=True)


def operator_token(api_url: str) -> str | None:
    """An admin's token for the full rows (VODFLOW_API_TOKEN or the admin login), else None: the public
    view (ready titles only, no failure reasons)."""
    from vodflow.auth.client import ApiAuthError, api_token

    try:
        return api_token(api_url)
    except ApiAuthError as e:
        err.print(f"[yellow]no admin token ({e}); showing the public catalog (ready titles only)[/]")
        return None


def follow_with_progress(api_url: str, video_id: str, timeout: float, console: Console = err) -> dict:
    """:func:`vodflow.catalog.client.follow` with a spinner and a line per status change."""
    from vodflow.catalog.client import follow

    with console.status("waiting for the title to become ready ...") as spinner:
        def on_status(status: str) -> None:
            console.print(f"status: {_status(status)}")
            spinner.update(f"status {status} ...")

        return follow(api_url, video_id, timeout=timeout, on_status=on_status, token=operator_token(api_url))


@videos_app.command("show")
def show(video_id: str = typer.Argument(..., help="The title's id (`vodflow videos` lists them)."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Wait until the title is ready or failed."),
         timeout: float = typer.Option(900, "--timeout", min=1, help="Seconds --follow waits at most."),
         api_url: Optional[str] = API_URL) -> None:
    """Show one title: status, duration, renditions and why it failed. Exit code 1 if it failed."""
    from vodflow.catalog.client import CatalogUnavailable, UnknownVideo, get_video

    url = _url(api_url)
    try:
        if follow:
            rec = follow_with_progress(url, video_id, timeout)
        else:
            rec = get_video(url, video_id, token=operator_token(url))
    except (CatalogUnavailable, UnknownVideo, TimeoutError) as e:
        _fail(str(e))
    print_title(rec)
    if rec["status"] == "failed":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``videos`` (and ``videos show``) to the ``vodflow`` command."""
    app.add_typer(videos_app, name="videos")
