"""A throwaway PostgreSQL server for tests (Debian's binaries, `apt-get install postgresql`; the helpers of
vodflow/stack/postgres.py, as the cluster profile's server): one per test session in a temporary directory,
trust auth on a Unix socket and a free local port, stopped at the end.
Tests that need it skip, naming the fix, when the binaries or the psycopg driver are missing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from vodflow.stack import postgres as pg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self) -> None:
        bindir = pg.bindir()
        if bindir is None:
            pytest.skip("PostgreSQL is not installed: apt-get install postgresql (Debian) to run these on it")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            pytest.skip("psycopg is missing: make install (setup.cfg names psycopg[binary])")
        self.dir = Path(tempfile.mkdtemp(prefix="vodflow-pg-"))
        self.port = _free_port()
        pg.initdb(self.dir / "data")  # as the postgres account when we are root (PostgreSQL refuses root)
        opts = " ".join(pg.server_options(self.port, self.dir))
        self._run([str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                   str(self.dir / "log"), "-w", "start"])
        self.pg_ctl = bindir / "pg_ctl"

    def _run(self, argv: list[str]) -> None:
        r = subprocess.run(pg.as_server_user(argv), capture_output=True, text=True, cwd=self.dir)
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
