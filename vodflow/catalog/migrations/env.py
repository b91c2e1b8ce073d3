"""Alembic environment of the catalog, driven from ``vodflow.catalog.db`` (Config built in code)."""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import context

from vodflow.catalog.db import VERSION_TABLE, get_engine
from vodflow.catalog.models import Base

config = context.config
target_metadata = Base.metadata
# Postgres advisory lock id: concurrent upgrades (API + Airflow tasks starting together) wait for
# each other instead of racing to create the same tables.
_LOCK_ID = zlib.crc32(b"vodflow.catalog.migrations")


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"},
                      version_table=VERSION_TABLE, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(connection=connection, target_metadata=target_metadata, version_table=VERSION_TABLE,
                      transactional_ddl=True, render_as_batch=is_sqlite, compare_type=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        context.run_migrations()


def run_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
        return
    with get_engine(config.attributes.get("vodflow_url") or config.get_main_option("sqlalchemy.url")) \
            .execution_options(vodflow_write=True).connect() as conn:
        _run(conn)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
