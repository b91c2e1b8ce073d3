"""A throwaway PostgreSQL server for tests (Debian's binaries, `apt-get install postgresql`): one per test
session in a temporary directory, trust auth on a Unix socket and a free local port, stopped at the end.
Tests that need it skip, naming the fix, when the binaries or the psycopg driver are missing."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("pg_ctl")
    return Path(exe).parent if exe else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self) -> None:
        bindir = _bin()
        if bindir is None:
            pytest.skip("PostgreSQL is not installed: apt-get install postgresql (Debian) to run these on it")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            pytest.skip("psycopg is missing: make install (setup.cfg names psycopg[binary])")
        self.dir = Path(tempfile.mkdtemp(prefix="vodflow-pg-"))
        self.port = _free_port()
        # PostgreSQL refuses to run as root: run it as the postgres account when we are root
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run([str(bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "vodflow", "--auth=trust",
                   "-E", "UTF8", "--no-sync"])
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB"
        self._run([str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                   str(self.dir / "log"), "-w", "start"])
        self.pg_ctl = bindir / "pg_ctl"

    def _run(self, argv: list[str]) -> None:
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError(f"{argv}: {r.stdout}\n{r.stderr}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://vodflow@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import sqlalchemy as sa

        name = f"t_{uuid.uuid4().hex[:12]}"
        eng = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
        eng.dispose()
        return self.url(name)

    def stop(self) -> None:
        self._run([str(self.pg_ctl), "-D", str(self.dir / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    pg = Postgres()
    yield pg
    pg.stop()
