"""``vodflow recs``: checks on the registered recommendation models.

* ``vodflow recs verify``  every registered version re-scored from its Delta time-travel snapshot
                          (:mod:`vodflow.recs.reproduce`): recorded vs reproduced holdout metrics,
                          exit 1 if any differs by more than the tolerance (1e-6).
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

recs_app = typer.Typer(help="Recommendation models (see docs/recommendations.md).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@recs_app.command("verify")
def verify(model: str = typer.Option("", "--model", help="Registered model name (default vodflow-recs)."),
           run_id: str = typer.Option("", "--run-id", help="Check this MLflow run only instead of every version."),
           tol: float = typer.Option(1e-6, help="Largest absolute metric difference accepted."),
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Reproduce every registered model's holdout metrics from Delta time travel (needs MLflow and Spark)."""
    from vodflow.recs import registry
    from vodflow.recs.reproduce import NotReproducible, check_all, reproduce_run
    from vodflow.spark import get_spark

    c = registry.client()
    spark = get_spark("recs-verify")
    try:
        res = ([reproduce_run(spark, c, run_id, tol=tol)] if run_id
               else check_all(spark, c, model or registry.MODEL_NAME, tol))
    except NotReproducible as e:
        err.print(f"[red]{e}[/] ({e.code})")
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in res], indent=1))
    else:
        t = Table(title=f"reproduced from Delta time travel (tolerance {tol:g})")
        for col in ("version", "kind", "table version", "ndcg recorded", "ndcg reproduced", "max |diff|", "ok"):
            t.add_column(col)
        for r in res:
            nd = next((m for m in r.recorded if m.startswith("ndcg")), None)
            t.add_row(r.version or "-", r.kind, str(r.table_version),
                      f"{r.recorded[nd]:.6f}" if nd else "-", f"{r.reproduced[nd]:.6f}" if nd else "-",
                      f"{r.max_abs_diff:.2e}", "yes" if r.ok else "[red]NO[/]")
        out.print(t)
    if not all(r.ok for r in res):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(recs_app, name="recs")
