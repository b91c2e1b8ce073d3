"""The one SparkSession builder every vodflow job uses.

Delta Lake and the Kafka source come from local jar files that ``make jars``
(Maven) put in ``VODFLOW_SPARK_JARS_DIR``: a job never downloads anything at run
time.  Under ``spark-submit`` the master and resources given on the command line
win; in-process (tests, Airflow tasks) the ``VODFLOW_SPARK_*`` settings apply.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from vodflow.clients import spark_s3a_conf
from vodflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

# JVM options of every driver and executor. HotSpot leaves a method of more than 8,000 bytes of bytecode
# to the interpreter (DontCompileHugeMethods); Spark's generated code for a wide projection passes that
# (the stream's parse-and-validate stage is 13,180 bytes: Spark logs "Generated method too long to be JIT
# compiled"), and interpreted it costs ~1.5x the CPU per event (bench/stream_parse.py: 5.51 vs 3.74 CPU-s per
# 100k events; docs/benchmarks-analytics.md).
JVM_OPTIONS = "-XX:-DontCompileHugeMethods"


class SparkSetupError(RuntimeError):
    """Spark cannot start: says what to run to fix it."""


def spark_jars(settings: Settings | None = None) -> list[str]:
    """The jars of every Spark application: Delta and the Kafka source; for an ``s3a://`` lake also Hadoop
    S3A, the AWS SDK modules it needs and vodflow's ``S3ConditionalLogStore`` (:func:`s3a_jars_dir`)."""
    s = settings or get_settings()
    d = Path(s.spark_jars_dir)
    jars = sorted(str(p) for p in d.glob("*.jar")) if d.is_dir() else []
    if not any("delta-spark" in Path(j).name for j in jars):
        raise SparkSetupError(
            f"Delta/Kafka jars not found in {d}: run `make jars` (Maven copies them there) "
            "or point VODFLOW_SPARK_JARS_DIR at a directory holding them"
        )
    if s.lake_uri.startswith("s3a://"):
        jars += s3a_jars(s)
    return jars


def s3a_jars_dir(s: Settings) -> Path:
    """Where `make jars-s3a` puts the S3A jars: ``s3a/`` beside VODFLOW_SPARK_JARS_DIR."""
    return Path(s.spark_jars_dir).parent / "s3a"


def s3a_jars(s: Settings) -> list[str]:
    """The S3A jars an ``s3a://`` lake needs (:func:`s3a_jars_dir`); SparkSetupError naming `make jars-s3a` when
    Hadoop S3A is not among them (also the stack's preflight check)."""
    d = s3a_jars_dir(s)
    jars = sorted(str(p) for p in d.glob("*.jar")) if d.is_dir() else []
    if not any("hadoop-aws" in Path(j).name for j in jars):
        raise SparkSetupError(f"VODFLOW_LAKE_URI is s3a:// but the S3A jars are not in {d}: run `make jars-s3a` "
                              "(maven/s3a; `make install PROFILE=cluster` does it for the cluster profile)")
    return jars


def spark_submit_argv(job: str, job_args: list[str], settings: Settings | None = None,
                      master: str | None = None) -> list[str]:
    """The spark-submit command for a job: jars and Delta settings from vodflow's settings."""
    import sys

    s = settings or get_settings()
    submit = Path(sys.executable).parent / "spark-submit"
    return [str(submit if submit.exists() else "spark-submit"), "--master", master or s.spark_master,
            "--driver-memory", s["VODFLOW_SPARK_DRIVER_MEMORY"], "--jars", ",".join(spark_jars(s)),
            "--driver-java-options", JVM_OPTIONS, "--conf", f"spark.executor.extraJavaOptions={JVM_OPTIONS}",
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
        # Generated classes are cached by their code text, 100 by default: one stream batch compiles ~140
        # (its own plans and Delta's), so every batch evicted the last one's and compiled them all again
        # (bench/stream_batch.py: 140 -> 16 Janino compiles per 250k-event batch with a larger cache).
        "spark.sql.codegen.cache.maxEntries": "2000",
        "spark.driver.extraJavaOptions": f"{JVM_OPTIONS} -Dderby.system.home={s.home / 'spark-derby'}",
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
    }
    conf.update(spark_s3a_conf(s))
    conf.update(extra_conf_from_settings(s))
    conf.update(extra_conf or {})
    for k, v in conf.items():
        b = b.config(k, v)
    with jvm_blas_env():
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


# ----------------------------------------------------------------------------- native BLAS (Spark ALS)
#: OpenBLAS threads per call inside Spark's JVM. Spark's tasks are the parallelism and ALS's BLAS calls
#: are tiny (rank-sized dspr / dppsv); OpenBLAS's own threads would compete with the task threads for
#: the same cores (Spark's MLlib guide, "Dependencies", recommends one thread per call for native BLAS).
JVM_BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def jvm_blas_env():
    """Around the launch of a JVM (SparkSession, spark-submit): :data:`JVM_BLAS_THREADS` in the environment
    it inherits, unless the caller set them; this process's environment is restored afterwards."""
    saved = {k: os.environ.get(k) for k in JVM_BLAS_THREADS}
    for k, v in JVM_BLAS_THREADS.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: the shared libraries netlib (dev.ludovic.netlib, Spark's BLAS/LAPACK) dlopens for its JNI path;
#: Debian's libopenblas0-pthread + liblapack3 provide both (scripts/system-deps.sh installs them)
NATIVE_BLAS_LIBS = ("libblas.so.3", "liblapack.so.3")

_PROBE = """
import ctypes, json, os, sys
found = {}
for name in sys.argv[1:]:
    try:
        ctypes.CDLL(name)
    except OSError:
        found[name] = None
        continue
    stem = name.split(".so")[0]
    with open("/proc/self/maps") as fh:
        paths = {l.split()[-1] for l in fh if len(l.split()) >= 6 and os.path.basename(l.split()[-1]).startswith(stem)}
    found[name] = sorted(paths)[0] if paths else name
print(json.dumps(found))
"""


def native_blas_libraries() -> dict[str, str | None]:
    """Each of :data:`NATIVE_BLAS_LIBS` -> the file it loads from, or None when it cannot be loaded.

    The libraries are opened in a short child process (as the JVM's JNI loader would, by soname), so
    this process never maps OpenBLAS or starts its threads.  Spark ALS uses the native path only if
    both load; :func:`jvm_blas` asks a running JVM which implementation it actually picked.
    """
    import json
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE, *NATIVE_BLAS_LIBS], capture_output=True, text=True,
                             timeout=30, env=env, check=True).stdout
        return json.loads(out)
    except (subprocess.SubprocessError, ValueError):
        return {name: None for name in NATIVE_BLAS_LIBS}


def jvm_blas(spark: "SparkSession") -> dict[str, str]:
    """The BLAS and LAPACK implementations netlib picked in ``spark``'s JVM (class names).

    ``dev.ludovic.netlib.blas.JNIBLAS`` / ``...lapack.JNILAPACK`` are the native (system OpenBLAS)
    path; ``VectorBLAS`` / ``Java...`` are the pure-Java fallbacks.
    """
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - py4j gateway, the only way to ask the JVM
    netlib = jvm.dev.ludovic.netlib
    return {"blas": netlib.blas.BLAS.getInstance().getClass().getName(),
            "lapack": netlib.lapack.LAPACK.getInstance().getClass().getName()}


def jvm_native_blas(spark: "SparkSession") -> bool:
    """True when ``spark``'s JVM runs ALS on the native BLAS and LAPACK (JNI), not on Java fallbacks."""
    impl = jvm_blas(spark)
    return impl["blas"].endswith("JNIBLAS") and impl["lapack"].endswith("JNILAPACK")


def to_pandas(df: "DataFrame"):
    """``df.toPandas()`` through Arrow (on for this call only): millions of rows move as columns instead of
    one pickled Row each (the recs DAG collects ~16M training pairs at 20M interactions)."""
    spark = df.sparkSession
    key = "spark.sql.execution.arrow.pyspark.enabled"
    before = spark.conf.get(key, "false")
    spark.conf.set(key, "true")
    try:
        return df.toPandas()
    finally:
        spark.conf.set(key, before)
