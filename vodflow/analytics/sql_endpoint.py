"""The SQL endpoint: a Spark Connect server over the lake, every Delta table registered by name.

Standard clients reach it at ``VODFLOW_SQL_URL`` (default ``sc://127.0.0.1:15002``): pyspark's Spark
Connect client (``pip install "pyspark[connect]"``: no JVM on the client), notebooks, and tools that
speak Spark Connect. ``vodflow up`` runs it as the ``sql-endpoint`` service (vodflow/stack/services.py;
``VODFLOW_SQL_ENDPOINT=off`` leaves it out). Rules:

* the server is the Spark Connect plugin of pyspark's own jars (``spark-connect_2.13``) loaded into a
  Delta-enabled session of :func:`vodflow.spark.get_spark`: the same Spark, Delta and S3 settings as
  every vodflow job, nothing downloaded;
* every table of :data:`vodflow.analytics.tables.TABLES` (and ``recommendations``) that exists is
  registered as ``vodflow.<name>`` (external Delta tables: the names point at the lake, the data stays
  there); tables written later (a new lake fills up) are registered within ``--refresh`` seconds;
* each client session sees the tables' latest versions; the SQL dialect is Spark SQL
  (docs/analytics.md gives the Spark forms of the example queries);
* the process writes a JSON heartbeat (``--status-file``) with the registered tables, which the
  stack's health check reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vodflow.analytics.tables import DATABASE, RECOMMENDATIONS, TABLES, Table
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

log = logging.getLogger("vodflow.analytics.sql")

SERVED: tuple[Table, ...] = (*TABLES.values(), RECOMMENDATIONS)
PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
REFRESH_S = 30.0


class EndpointError(ValueError):
    """A bad VODFLOW_SQL_URL; the message names the fix."""


def endpoint(s: Settings) -> tuple[str, int]:
    """``(host, port)`` of ``VODFLOW_SQL_URL`` (``sc://host:port``)."""
    url = s["VODFLOW_SQL_URL"].strip()
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "sc" or not parts.hostname or not port:
        raise EndpointError(f"VODFLOW_SQL_URL={url!r} is not a Spark Connect URL: write sc://<host>:<port> "
                            "(e.g. sc://127.0.0.1:15002)")
    return parts.hostname, port


def server_conf(host: str, port: int) -> dict[str, str]:
    """Spark settings that turn a session's driver into the Spark Connect server on ``host:port``.

    On a Spark cluster (VODFLOW_SPARK_MASTER=spark://...) the endpoint is a long-lived application that is
    idle most of the time: with dynamic allocation it holds executors only while a query runs (released
    30 s after), so it never keeps the cores that the stream, OPTIMIZE/VACUUM and training need (on the
    cluster profile it held 2 of the 4 and those waited for ever). Spark ignores these in local mode."""
    return {"spark.plugins": PLUGIN, "spark.connect.grpc.binding.address": host,
            "spark.connect.grpc.binding.port": str(port), "spark.ui.enabled": "false",
            "spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.shuffleTracking.enabled": "true",
            "spark.dynamicAllocation.minExecutors": "0", "spark.dynamicAllocation.initialExecutors": "0",
            "spark.dynamicAllocation.executorIdleTimeout": "30s",
            "spark.dynamicAllocation.shuffleTracking.timeout": "60s"}


def register_new(spark: "SparkSession", s: Settings, done: set[str]) -> list[str]:
    """Register the served tables that exist and are not in ``done`` yet; returns their names."""
    from delta.tables import DeltaTable

    new = []
    for t in SERVED:
        if t.name in done:
            continue
        loc = t.location(s)
        if not DeltaTable.isDeltaTable(spark, loc):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {DATABASE}.{t.name} USING DELTA LOCATION '{loc}'")
        done.add(t.name)
        new.append(t.name)
    return new


def _heartbeat(path: Path | None, url: str, tables: set[str]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ts": time.time(), "url": url, "tables": sorted(tables)}))
    tmp.replace(path)


def serve(s: Settings | None = None, status_file: Path | None = None, refresh_s: float = REFRESH_S,
          stop: threading.Event | None = None) -> None:
    """Run the endpoint until ``stop`` is set (SIGTERM/SIGINT under :func:`main`)."""
    from vodflow.spark import get_spark

    s = s or get_settings()
    host, port = endpoint(s)
    stop = stop or threading.Event()
    spark = get_spark("vodflow-sql-endpoint", s, extra_conf=server_conf(host, port))
    url = f"sc://{host}:{port}"
    done: set[str] = set()
    log.info("Spark Connect listening on %s (lake %s)", url, s.lake_uri)
    try:
        while not stop.is_set():
            new = register_new(spark, s, done)
            if new:
                log.info("registered %s", ", ".join(f"{DATABASE}.{n}" for n in new))
            _heartbeat(status_file, url, done)
            stop.wait(refresh_s)
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vodflow.analytics.sql_endpoint",
                                description="Spark Connect SQL endpoint over the lake (VODFLOW_SQL_URL)")
    p.add_argument("--status-file", type=Path, help="JSON heartbeat written every refresh (for health checks)")
    p.add_argument("--refresh", type=float, default=REFRESH_S,
                   help=f"seconds between looks for newly written tables (default {REFRESH_S:.0f})")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        endpoint(get_settings())
    except EndpointError as e:
        p.error(str(e))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve(status_file=a.status_file, refresh_s=a.refresh, stop=stop)


if __name__ == "__main__":
    main()
