"""Profiles of the local stack: named sets of ``VODFLOW_*`` values, nothing else.

``embedded`` is SPECS' defaults (one Kafka broker, Spark in local mode). ``cluster`` (``cluster.env`` next
to this module) runs the same services, DAGs, jobs and API as a multi-node rehearsal: three KRaft brokers
with replication 3 and min.insync.replicas 2, a Spark standalone master with two workers, in its own
``VODFLOW_HOME`` and on its own ports so it can run beside an embedded stack. A profile never overrides a
variable already set in the environment,
except ``VODFLOW_HOME`` (a home exported for another stack must never be shared). Rules: the README's "Cluster profile" section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

from vodflow.settings import REPO_ROOT

PROFILES: dict[str, Path | None] = {"embedded": None, "cluster": Path(__file__).with_name("cluster.env")}


FORCED = {"VODFLOW_HOME"}  # a profile's own state directory wins over the environment's


class ProfileError(ValueError):
    pass


def values(name: str) -> dict[str, str]:
    """The ``VODFLOW_*`` values of profile ``name`` (a relative VODFLOW_HOME is under the checkout)."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}")
    path = PROFILES[name]
    if path is None:
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith("VODFLOW_"):
            raise ProfileError(f"{path}:{n}: {line!r} is not VODFLOW_NAME=value")
        out[key] = value
    if "VODFLOW_HOME" in out and not Path(out["VODFLOW_HOME"]).is_absolute():
        out["VODFLOW_HOME"] = str(REPO_ROOT / out["VODFLOW_HOME"])
    return out


def apply(name: str, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put profile ``name``'s values into ``environ`` (default: this process's, so services inherit them)
    where not set already; returns what was applied. Call ``get_settings.cache_clear()`` afterwards."""
    environ = os.environ if environ is None else environ
    vals = values(name)
    # its own state directory always: a VODFLOW_HOME left in the shell (another stack's) must not be reused
    applied = {k: v for k, v in vals.items() if k not in environ or k in FORCED}
    environ.update(applied)
    environ["VODFLOW_PROFILE"] = name
    return applied
