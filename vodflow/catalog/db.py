"""Engines, sessions and migrations of the catalog database, keyed by URL.

* One engine per URL per process (``get_engine``); sessions from ``session_factory``.
* SQLite (the local default): the parent directory is created, WAL journal, foreign keys on,
  a 30 s busy timeout, and transactions that change data start with ``BEGIN IMMEDIATE`` so two
  writers (API, Airflow tasks) serialize on the database lock up front instead of failing with
  "database is locked" when a read lock cannot be upgraded. Reads use a deferred ``BEGIN``.
* Postgres (by URL): a pre-ping pool; row locks come from ``SELECT ... FOR UPDATE`` in the
  repository.
* ``upgrade(url)`` runs the packaged Alembic migrations programmatically (no alembic.ini);
  concurrent upgrades are serialized (SQLite: ``BEGIN IMMEDIATE``; Postgres: an advisory lock).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "catalog_alembic_version"
# Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "vodflow_write"

_engines: dict[str, Engine] = {}
_upgraded: set[str] = set()
_lock = threading.Lock()


@lru_cache(maxsize=64)
def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg (v3) when it is installed, else SQLAlchemy's default."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql"):
        try:
            import psycopg  # noqa: F401

            u = u.set(drivername="postgresql+psycopg")
        except ImportError:
            u = u.set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or u.database.startswith("file:"):
        return None
    return Path(u.database)


def _create_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            path.expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            # Let SQLAlchemy (not pysqlite) emit BEGIN, so DDL is transactional and we can choose
            # BEGIN IMMEDIATE for writers.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                if path is not None:
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.execute("PRAGMA synchronous=NORMAL")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (created on first use)."""
    url = normalize_url(url)
    with _lock:
        eng = _engines.get(url)
        if eng is None:
            eng = _engines[url] = _create_engine(url)
        return eng


def session_factory(url: str, *, write: bool = False) -> sessionmaker[Session]:
    eng = get_engine(url)
    if write:
        eng = eng.execution_options(**{WRITE_OPTION: True})
    return sessionmaker(bind=eng, expire_on_commit=False)


@contextmanager
def transaction(url: str, *, write: bool = True) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any exception."""
    with session_factory(url, write=write)() as session, session.begin():
        yield session


def alembic_config(url: str):
    """An Alembic Config for the packaged migrations, built in code (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    # '%' is ConfigParser interpolation syntax (e.g. in URL-encoded passwords).
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["vodflow_url"] = normalize_url(url)
    return cfg


def upgrade(url: str, revision: str = "head", *, sql: bool = False) -> None:
    """Bring the catalog schema at ``url`` to ``revision`` (``sql=True``: print the SQL instead)."""
    from alembic import command

    cfg = alembic_config(url)
    if sql:
        command.upgrade(cfg, revision, sql=True)
        return
    with get_engine(url).execution_options(**{WRITE_OPTION: True}).connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(url)
    with get_engine(url).execution_options(**{WRITE_OPTION: True}).connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    with _lock:
        _upgraded.discard(normalize_url(url))


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def ensure_schema(url: str) -> None:
    """Upgrade to head once per process and URL (cheap after the first call)."""
    key = normalize_url(url)
    if key in _upgraded:
        return
    upgrade(key)
    with _lock:
        _upgraded.add(key)


def dispose_all() -> None:
    """Close every pooled connection (tests, forked workers)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
        _upgraded.clear()
