"""Debian's PostgreSQL as a local server: found, initialised, run in the foreground, its databases made.

Rules (the cluster profile, VODFLOW_POSTGRES=on; tests/pgkit.py's throwaway servers use the same helpers):

* binaries from Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``, newest first), else
  ``pg_ctl`` on PATH; missing -> an error naming ``apt-get install postgresql`` (scripts/system-deps.sh).
* PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` account (``runuser``).
* one server per state directory, trust authentication for user ``vodflow`` on the bind address only, a
  Unix socket in the data directory's parent; the port is the one the ``postgresql`` URLs name, which
  must agree (:func:`server_address`).
* every database those URLs name is created once the server answers (:func:`ensure_databases`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

DB_SETTINGS = ("VODFLOW_AIRFLOW_DB_URL", "VODFLOW_MLFLOW_BACKEND_URI", "VODFLOW_CATALOG_DB_URL")
USER = "vodflow"


class PostgresError(RuntimeError):
    pass


def bindir() -> Path | None:
    """The newest Debian PostgreSQL's bin directory, else pg_ctl's directory on PATH, else None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("pg_ctl")
    return Path(exe).parent if exe else None


def require_bindir() -> Path:
    d = bindir()
    if d is None:
        raise PostgresError("PostgreSQL is not installed: apt-get install postgresql (Debian; scripts/system-deps.sh "
                            "does it), or set VODFLOW_POSTGRES=off and point the database URLs at a server")
    return d


def server_user() -> str | None:
    """The account the server runs as: ``postgres`` when we are root (PostgreSQL refuses root), else us."""
    return "postgres" if os.geteuid() == 0 else None


def as_server_user(argv: list[str]) -> list[str]:
    user = server_user()
    return ["runuser", "-u", user, "--", *argv] if user else argv


def give_to_server_user(path: Path) -> None:
    user = server_user()
    if user:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def initdb(data: Path) -> None:
    """Initialise ``data`` once (UTF-8, trust auth for ``vodflow``); a no-op when it holds a cluster."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    give_to_server_user(data)
    give_to_server_user(data.parent)
    argv = as_server_user([str(require_bindir() / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                           "-E", "UTF8", "--no-sync"])
    r = subprocess.run(argv, capture_output=True, text=True, cwd=data.parent)
    if r.returncode != 0:
        raise PostgresError(f"initdb {data} failed:\n{r.stdout}\n{r.stderr}")


def server_options(port: int, socket_dir: Path, host: str = "127.0.0.1") -> list[str]:
    """Options of a small local server (fsync off: a rehearsal's data, not a bank's)."""
    return ["-p", str(port), "-k", str(socket_dir), "-c", f"listen_addresses={host}", "-c", "fsync=off",
            "-c", "shared_buffers=32MB", "-c", "max_connections=200"]


def server_argv(data: Path, port: int, host: str) -> list[str]:
    """The postmaster in the foreground (what `vodflow up` supervises)."""
    return as_server_user([str(require_bindir() / "postgres"), "-D", str(data),
                           *server_options(port, data.parent, host)])


def local_urls(values: dict[str, str], hosts: set[str]) -> dict[str, str]:
    """The database settings that name a PostgreSQL server on one of ``hosts``: setting -> URL."""
    out = {}
    for name in DB_SETTINGS:
        u = make_url(values[name])
        if u.get_backend_name() == "postgresql" and (u.host or "localhost") in hosts:
            out[name] = values[name]
    return out


def server_address(values: dict[str, str], hosts: set[str]) -> tuple[str, int]:
    """(host, port) the local server must listen on: the one all local postgresql URLs agree on."""
    addrs = {(make_url(u).host or "127.0.0.1", make_url(u).port or 5432) for u in local_urls(values, hosts).values()}
    if len(addrs) != 1:
        names = ", ".join(DB_SETTINGS)
        raise PostgresError(f"VODFLOW_POSTGRES=on needs {names} (at least one) to name one local "
                            f"postgresql://host:port; they name {sorted(addrs) or 'none'}")
    return addrs.pop()


def ping(url: str) -> tuple[bool, str]:
    import psycopg

    u = make_url(url)
    try:
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username or USER, dbname="postgres",
                             connect_timeout=2) as c:
            v = c.execute("SHOW server_version").fetchone()[0]
        return True, f"PostgreSQL {v}"
    except psycopg.Error as e:
        return False, f"{type(e).__name__}: {str(e).strip()[:120]}"


def ensure_databases(urls: list[str]) -> list[str]:
    """Create each URL's database on its server when missing; returns the ones created."""
    import psycopg
    from psycopg import sql

    made = []
    for url in urls:
        u = make_url(url)
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username or USER, dbname="postgres",
                             autocommit=True, connect_timeout=5) as c:
            if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone() is None:
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(u.database)))
                made.append(u.database)
    return made
