"""Prepare the local Airflow: metadata DB, admin login, connections and pools from vodflow settings.

Run in a subprocess with the Airflow environment (``python -m vodflow.stack.airflow_setup``)
because Airflow reads its configuration when it is first imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vodflow.clients import airflow_s3_connection
from vodflow.settings import Settings, get_settings

# Pools for heavy work. Encoding uses every core of every worker (the Celery workers of the cluster profile:
# each a machine's worth of slots); Spark jobs run one at a time.
def celery_workers(s: Settings) -> int:
    """Celery workers `vodflow up` runs: VODFLOW_AIRFLOW_CELERY_WORKERS with the CeleryExecutor, else 0."""
    return int(s["VODFLOW_AIRFLOW_CELERY_WORKERS"]) if s["VODFLOW_AIRFLOW_EXECUTOR"] == "CeleryExecutor" else 0


def pools(s: Settings) -> dict[str, tuple[int, str]]:
    workers = max(1, celery_workers(s))
    return {
        "encode": (max(1, os.cpu_count() or 1) * workers,
                   f"ffmpeg encodes and packaging (one slot per core, {workers} worker{'s' if workers > 1 else ''})"),
        "spark": (1, "Spark jobs (local mode uses all cores)"),
    }


def connections(s: Settings) -> list[dict]:
    return [
        airflow_s3_connection(s),
        dict(conn_id="vodflow_kafka", conn_type="kafka",
             extra=json.dumps({"bootstrap.servers": s.kafka_bootstrap, "group.id": "vodflow-airflow",
                               "auto.offset.reset": "earliest", "enable.auto.commit": False}),
             description="vodflow Kafka (VODFLOW_KAFKA_BOOTSTRAP)"),
        dict(conn_id="vodflow_spark", conn_type="spark", host=s.spark_master,
             extra=json.dumps({"deploy-mode": "client"}), description="vodflow Spark (VODFLOW_SPARK_MASTER)"),
    ]


def prepare(s: Settings, env: dict[str, str]) -> None:
    """Called before the api-server starts. Idempotent."""
    home = s.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "passwords.json").write_text(
        json.dumps({s["VODFLOW_AIRFLOW_ADMIN_USER"]: s["VODFLOW_AIRFLOW_ADMIN_PASSWORD"]}))
    full_env = {**os.environ, **env}
    log = s.home / "logs" / "airflow-setup.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        r = subprocess.run([sys.executable, "-m", "vodflow.stack.airflow_setup"], env=full_env,
                           stdout=out, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"Airflow DB setup failed (see {log}):\n{tail}")


def _migrate_and_register() -> None:
    from airflow.utils.db import initdb  # noqa: F401 - ensures airflow is importable

    s = get_settings()
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True)

    from airflow.models import Connection, Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        for c in connections(s):
            existing = session.query(Connection).filter(Connection.conn_id == c["conn_id"]).one_or_none()
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Connection(**c))
    for name, (slots, desc) in pools(s).items():
        Pool.create_or_update_pool(name=name, slots=slots, description=desc, include_deferred=False)
    print("airflow setup: migrated, connections", [c["conn_id"] for c in connections(s)], "pools", pools(s))


if __name__ == "__main__":
    _migrate_and_register()
