"""Moved to :mod:`vodflow.java` (Spark needs it too, and the base layer may not import ``vodflow.stack``).

Kept only for ``bench/analytics_floor.py`` until it imports ``vodflow.java``; nothing in ``vodflow/`` uses it.
"""

from vodflow.java import FIX, JavaMissingError, find_java  # noqa: F401
