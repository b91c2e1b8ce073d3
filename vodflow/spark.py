"""The one SparkSession builder every vodflow job uses.

Delta Lake and the Kafka source come from local jar files that ``make jars``
(Maven) put in ``VODFLOW_SPARK_JARS_DIR``: a job never downloads anything at run
time.  Under ``spark-submit`` the master and resources given on the command line
win; in-process (tests, Airflow tasks) the ``VODFLOW_SPARK_*`` settings apply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vodflow.clients import spark_s3a_conf
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession


class SparkSetupError(RuntimeError):
    """Spark cannot start: says what to run to fix it."""


def spark_jars(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    d = Path(s.spark_jars_dir)
    jars = sorted(str(p) for p in d.glob("*.jar")) if d.is_dir() else []
    if not any("delta-spark" in Path(j).name for j in jars):
        raise SparkSetupError(
            f"Delta/Kafka jars not found in {d}: run `make jars` (Maven copies them there) "
            "or point VODFLOW_SPARK_JARS_DIR at a directory holding them"
        )
    return jars


def spark_submit_argv(job: str, job_args: list[str], settings: Settings | None = None,
                      master: str | None = None) -> list[str]:
    """The spark-submit command for a job: jars and Delta settings from vodflow's settings."""
    import sys

    s = settings or get_settings()
    submit = Path(sys.executable).parent / "spark-submit"
    return [str(submit if submit.exists() else "spark-submit"), "--master", master or s.spark_master,
            "--driver-memory", s["VODFLOW_SPARK_DRIVER_MEMORY"], "--jars", ",".join(spark_jars(s)),
            "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
            "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
            *[a for k, v in extra_conf_from_settings(s).items() for a in ("--conf", f"{k}={v}")],
            job, *job_args]


def extra_conf_from_settings(s: Settings) -> dict[str, str]:
    """``VODFLOW_SPARK_CONF`` (``key=value,key=value``) as a dict; raises naming the bad item."""
    return parse_conf(s, "VODFLOW_SPARK_CONF")


def parse_conf(s: Settings, setting: str) -> dict[str, str]:
    """A ``key=value,key=value`` setting (``VODFLOW_SPARK_CONF``, ``VODFLOW_EVENTS_SPARK_CONF``) as a
    dict; raises naming the setting and the bad item."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in s[setting].split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SparkSetupError(f"{setting}: {item!r} is not key=value "
                                  "(write e.g. spark.sql.adaptive.enabled=false,spark.executor.cores=4)")
        out[key.strip()] = value.strip()
    return out


def _under_spark_submit() -> bool:
    return "SPARK_SUBMIT" in os.environ or os.environ.get("PYSPARK_SUBMIT_ARGS", "").strip() != ""


def get_spark(app_name: str = "vodflow", settings: Settings | None = None,
              extra_conf: dict[str, str] | None = None) -> "SparkSession":
    """Return a Delta-enabled SparkSession sized for the configured machine."""
    from pyspark.sql import SparkSession

    s = settings or get_settings()
    _ensure_java(s)
    jars = spark_jars(s)
    b = SparkSession.builder.appName(app_name)
    if not _under_spark_submit():
        b = b.master(s.spark_master).config("spark.driver.memory", s["VODFLOW_SPARK_DRIVER_MEMORY"])
    conf = {
        "spark.jars": ",".join(jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": s["VODFLOW_SPARK_SHUFFLE_PARTITIONS"],
        "spark.default.parallelism": s["VODFLOW_SPARK_SHUFFLE_PARTITIONS"],
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta's default of 50 snapshot partitions is slow for small tables on few cores.
        "spark.databricks.delta.snapshotPartitions": s["VODFLOW_SPARK_SHUFFLE_PARTITIONS"],
        # Keep the local warehouse / metastore inside the state dir, not the cwd.
        "spark.sql.warehouse.dir": str(s.home / "spark-warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={s.home / 'spark-derby'}",
    }
    conf.update(spark_s3a_conf(s))
    conf.update(extra_conf_from_settings(s))
    conf.update(extra_conf or {})
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _ensure_java(s: Settings) -> None:
    if s.java_home:
        os.environ.setdefault("JAVA_HOME", s.java_home)
    # Bind the driver to the configured address (only loopback is reachable here).
    os.environ.setdefault("SPARK_LOCAL_IP", s.bind_host)
    if s.spark_master.startswith("spark://"):  # a standalone cluster's executors run this interpreter
        import sys

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from vodflow.java import find_java  # local import: keeps this module light

    find_java(s)  # raises a clear error naming the fix
