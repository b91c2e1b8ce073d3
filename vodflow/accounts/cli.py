"""``vodflow users add | list | set | token | service-token``: accounts from the command line.

They work on the catalog database directly (``VODFLOW_CATALOG_DB_URL``), like an operator's
admin tool, so the first admin can be made before any API runs. ``vodflow up`` creates the admin
``VODFLOW_ADMIN_EMAIL`` itself.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from vodflow.accounts.validation import PLANS

out = Console(width=None if Console().is_terminal else 160)
err = Console(stderr=True)

users_app = typer.Typer(help="Accounts: create viewers and admins, change subscription or country, "
                             "print tokens.", no_args_is_help=True)


def _fail(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(1)


def _store():
    from vodflow.accounts import get_user_store
    from vodflow.settings import get_settings

    return get_user_store(get_settings().catalog_db_url)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
        if not pw:
            _fail("--password-stdin: nothing on standard input (e.g. `echo \"$PW\" | vodflow users add ...`)")
        return pw
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _show(recs) -> None:
    t = Table(title="vodflow accounts")
    for col in ("email", "id", "role", "plan", "subscription", "country", "created"):
        t.add_column(col)
    for r in recs:
        sub = r.subscription_status.value
        t.add_row(r.email, r.id, r.role.value, r.plan,
                  f"[green]{sub}[/]" if r.subscription_active else f"[red]{sub}[/]", r.country,
                  r.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(t)


@users_app.command("add")
def add(email: str = typer.Argument(..., help="Email address (the login)."),
        country: str = typer.Option(..., "--country", help="ISO 3166-1 alpha-2 country, e.g. US, DE."),
        plan: str = typer.Option("standard", "--plan", help=f"One of: {', '.join(PLANS)}."),
        role: str = typer.Option("viewer", "--role", help="viewer or admin."),
        subscription: str = typer.Option("active", "--subscription",
                                         help="active, past_due, canceled or none (only active may play)."),
        password_stdin: bool = typer.Option(False, "--password-stdin",
                                            help="Read the password from the first line of standard input "
                                                 "instead of prompting."),
        user_id: Optional[str] = typer.Option(None, "--id", help="Account id (default: a new UUID)."),
        ) -> None:
    """Create an account (the password is prompted, or read with --password-stdin)."""
    from vodflow.accounts import AccountError, InvalidAccountData
    from vodflow.accounts.passwords import PasswordPolicyError

    password = _read_password(password_stdin)
    try:
        rec = _store().create(email, password, country=country, plan=plan, role=role, subscription=subscription,
                              user_id=user_id)
    except (AccountError, InvalidAccountData, PasswordPolicyError) as e:
        _fail(str(e))
    out.print(f"[green]created[/] {rec.role.value} [bold]{rec.email}[/] (id {rec.id}, {rec.country}, "
              f"{rec.plan}, subscription {rec.subscription_status.value})")


@users_app.command("list")
def list_(limit: int = typer.Option(1000, "--limit", min=1)) -> None:
    """List the accounts."""
    _show(_store().list(limit=limit))


@users_app.command("set")
def set_(email: str = typer.Argument(..., help="Email (or id) of the account."),
         subscription: Optional[str] = typer.Option(None, "--subscription", help="active, past_due, canceled, none."),
         country: Optional[str] = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 country."),
         plan: Optional[str] = typer.Option(None, "--plan", help=f"One of: {', '.join(PLANS)}."),
         role: Optional[str] = typer.Option(None, "--role", help="viewer or admin."),
         password_stdin: bool = typer.Option(False, "--password-stdin", help="Set a new password read from stdin."),
         new_password: bool = typer.Option(False, "--password", help="Prompt for a new password."),
         ) -> None:
    """Change an account's subscription, country, plan, role or password (effective on the next request)."""
    from vodflow.accounts import AccountError, InvalidAccountData
    from vodflow.accounts.passwords import PasswordPolicyError

    password = _read_password(password_stdin) if (password_stdin or new_password) else None
    if not any(v is not None for v in (subscription, country, plan, role, password)):
        _fail("nothing to change: pass --subscription, --country, --plan, --role or --password")
    try:
        rec = _store().update(email, subscription=subscription, country=country, plan=plan, role=role,
                              password=password)
    except (AccountError, InvalidAccountData, PasswordPolicyError) as e:
        _fail(str(e))
    _show([rec])


@users_app.command("token")
def token(email: str = typer.Argument(..., help="Email (or id) of the account."),
          ttl: Optional[int] = typer.Option(None, "--ttl", min=1,
                                            help="Lifetime in seconds (default VODFLOW_ACCESS_TOKEN_TTL).")) -> None:
    """Print an access token of an account (for scripts: `export VODFLOW_API_TOKEN=$(vodflow users token ...)`)."""
    from vodflow.accounts import AccountError
    from vodflow.auth.tokens import issue_access_token
    from vodflow.settings import get_settings

    try:
        rec = _store().require(email)
    except AccountError as e:
        _fail(str(e))
    typer.echo(issue_access_token(get_settings(), rec, ttl_s=ttl))


@users_app.command("service-token")
def service_token(name: str = typer.Argument(..., help="Name of the machine client, e.g. player-gateway."),
                  ttl: int = typer.Option(86400, "--ttl", min=1, help="Lifetime in seconds.")) -> None:
    """Print a service token: may post events for any user; acts for no account (no /play, no /me)."""
    from vodflow.auth.tokens import issue_service_token
    from vodflow.settings import get_settings

    try:
        typer.echo(issue_service_token(get_settings(), name, ttl_s=ttl))
    except ValueError as e:
        _fail(str(e))


def register(app: typer.Typer) -> None:
    """Add ``users`` to the ``vodflow`` command."""
    app.add_typer(users_app, name="users")
