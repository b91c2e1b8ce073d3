"""Secrets generated once into ``$VODFLOW_HOME/keys/`` when settings leave them empty.

Several processes (the API, Airflow tasks, `vodflow up`) may be the first to need a key at the same
moment. :func:`create_once` writes the content to a private temp file (mode 0600, fsync'd) and
hard-links it into place: ``link`` never overwrites, so the first writer's key wins, and no reader
ever sees the file empty or half-written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_once(path: Path, content: bytes) -> bool:
    """Create ``path`` (0600, in a 0700 directory) with ``content`` unless it exists; True if this call did."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False  # another process won the race: its key is the one used
    finally:
        tmp.unlink(missing_ok=True)
