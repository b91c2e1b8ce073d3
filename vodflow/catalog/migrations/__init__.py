"""Alembic migrations of the catalog, run with ``vodflow.catalog.db.upgrade(url)`` (no alembic.ini).

Kept as a Python package (all files ``.py``) so a regular, non-editable install ships them.
There is no ``script.py.mako``: a new revision is a copy of ``versions/0001_initial.py`` named
``versions/0002_<what>.py`` with ``revision = "0002"`` and ``down_revision = "0001"``.
"""
