"""``vodflow edge``: the edge policy in force, and running its steps by hand.

* ``vodflow edge policy``   the policy nginx reads now: popular titles (trending first) with their
                           scores, the long tail's lifetime, when and from which hour of gold it was made.
* ``vodflow edge refresh``  what the hourly ``edge_policy`` DAG does, now: gold -> policy -> reload ->
                           fill (``--no-prewarm`` to skip the last step).
* ``vodflow edge clear``    back to the static edge (every title kept as the origin says), reloaded.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vodflow.settings import get_settings

edge_app = typer.Typer(help="The popularity-driven edge policy (see docs/playback.md).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _titles() -> dict[str, str]:
    """id -> title of the ready titles (public catalog read; empty when the API is not reachable)."""
    from vodflow.catalog.client import CatalogUnavailable, list_videos

    try:
        return {v["id"]: v["title"] for v in list_videos(get_settings().api_url, "ready")}
    except CatalogUnavailable:
        return {}


@edge_app.command("policy")
def show(as_json: bool = typer.Option(False, "--json", help="Print the policy as JSON.")) -> None:
    """Show the edge policy in force: popular titles (long cache, filled whole), the long tail's lifetime, the
    last fill."""
    from vodflow.cdn.policy import map_file, read_fill, read_policy

    s = get_settings()
    p = read_policy(s)
    if as_json:
        typer.echo(json.dumps(p.to_dict() if p else None, indent=1))
        return
    if p is None:
        out.print(f"no edge policy yet: every title is cached alike (static edge; {map_file(s)}). The hourly "
                  "edge_policy DAG writes one from gold; `vodflow edge refresh` does it now.")
        return
    names = _titles()
    t = Table(title=f"edge policy of {p.generated_at} (gold up to {p.as_of_hour or '-'})")
    for col in ("#", "video id", "title", "score", "starts 24 h", "last hour", "completion", "trending"):
        t.add_column(col, overflow="fold")
    for i, h in enumerate(p.popular, 1):
        t.add_row(str(i), h.video_id, escape(names.get(h.video_id, "?")), f"{h.score:.1f}", str(h.views_window),
                  str(h.views_last_hour), f"{h.completion_rate:.0%}", "yes" if h.trending else "")
    out.print(t)
    out.print(f"popular: {len(p.popular)} titles (top {p.top_n} + trending), kept as the origin says and "
              f"filled whole; long tail: {p.tail_titles} titles with starts (and every title without), "
              f"revalidated after {p.tail_ttl_s} s")
    f = read_fill(s)
    if f:
        out.print(f"last fill ({f.get('at', '?')}): {_fill_line(f)}")


@edge_app.command("refresh")
def refresh(prewarm: bool = typer.Option(True, "--prewarm/--no-prewarm",
                                         help="Fill the edge after the reload (popular titles whole, "
                                              "watched titles, first seconds of the rest).")) -> None:
    """Compute the policy from gold now, apply it (nginx reload) and prewarm: the edge_policy DAG's steps."""
    from vodflow.cdn.policy import EdgePolicyError
    from vodflow.playback import edge_policy as ep

    s = get_settings()
    now = ep.now_utc()
    with err.status("reading gold/title_hourly ..."):
        rows = ep.hourly_views(s, now)
    p = ep.decide(s, rows, now)
    try:
        out.print(ep.apply(s, p))
    except EdgePolicyError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    if prewarm:
        with err.status("filling the edge through its signed path ..."):
            done = ep.fill_edge(s, p)
        out.print(_fill_line(done))
        for e in done["errors"]:
            err.print(f"[yellow]{escape(e)}[/]")


def _fill_line(f: dict) -> str:
    kinds = ", ".join(f"{n} {why}" for why, n in f["titles"].items()) or "no title"
    return (f"fill: {f['bytes'] / 2**20:.1f} of {f['budget_bytes'] / 2**20:.1f} MiB budget ({kinds}); "
            f"{f['objects_filled']} objects, {f['filled_bytes'] / 2**20:.1f} MiB fetched from the origin"
            + (f"; budget spent before {f['cut_at']}" if f.get("cut_at") else ""))


@edge_app.command("clear")
def clear() -> None:
    """Drop the policy: every title cached alike again (static edge)."""
    from vodflow.cdn.edge import reload_edge
    from vodflow.cdn.policy import clear_policy

    s = get_settings()
    clear_policy(s)
    out.print(f"edge policy cleared; {reload_edge(s)}")


def register(app: typer.Typer) -> None:
    app.add_typer(edge_app, name="edge")
