"""The local stack's services, built from settings.

Each entry is the real software run as a background process:

* ``s3``       S3Proxy with its filesystem backend (S3 API, on-disk persistence)
* ``lake-s3``  the lake's own S3 server when VODFLOW_LAKE_S3=on (the cluster profile): SeaweedFS ``weed mini``,
  whose put-if-absent is atomic, for an ``s3a://`` lake with concurrent writers (vodflow/stack/seaweedfs.py)
* ``kafka``    Apache Kafka 4.x, one KRaft node as broker + controller (``kafka-1`` .. ``kafka-N``: one per
  address in VODFLOW_KAFKA_BOOTSTRAP, each broker + controller of one quorum - the cluster profile's 3)
* ``spark-master``, ``spark-worker-N`` a Spark standalone cluster when VODFLOW_SPARK_MASTER is ``spark://``
  and VODFLOW_SPARK_WORKERS > 0 (the cluster profile); jobs' drivers submit to it
* ``postgres`` Debian's PostgreSQL when VODFLOW_POSTGRES=on (the cluster profile): Airflow's metadata,
  MLflow's backend store and the catalog (vodflow/stack/postgres.py)
* ``redis``    Debian's redis-server, the CeleryExecutor's broker, when VODFLOW_AIRFLOW_CELERY_WORKERS > 0
* ``mlflow``   MLflow tracking server + model registry (SQLite store, artifacts in S3)
* ``airflow-*`` Airflow 3 api-server, scheduler, dag-processor and triggerer; ``airflow-worker-N`` the
  Celery workers of the CeleryExecutor (the cluster profile's 2)
* ``edge-origin`` read-only S3Proxy over the origin bucket, the edge's origin (local OAC stand-in)
* ``edge``     nginx caching edge: signed URLs verified by the API, cache by path (vodflow/cdn)
* ``sql-endpoint`` Spark Connect over the lake's Delta tables, by name (vodflow/analytics/sql_endpoint.py)

Services are listed in start order; ``GROUPS`` says which can start together.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from vodflow.cdn import edge
from vodflow.clients import s3_env
from vodflow.java import find_java
from vodflow.settings import REPO_ROOT, Settings
from vodflow.stack import health, s3proxy, seaweedfs
from vodflow.stack.airflow_setup import celery_workers
from vodflow.stack.process import Service, ServiceError


def _venv_bin(tool: str) -> str:
    cand = Path(sys.executable).parent / tool
    return str(cand) if cand.exists() else tool


def _jars_classpath(s: Settings, component: str) -> str:
    d = s.home / "jars" / component
    if not d.is_dir() or not any(d.glob("*.jar")):
        raise FileNotFoundError(f"{component} jars missing in {d}: run `make jars` (needs Maven)")
    return str(d / "*")


# --------------------------------------------------------------------------- S3
def s3_service(s: Settings) -> Service:
    host, port = s.bind_host, s.s3_port
    argv = s3proxy.main_files(s).argv(find_java(s), s["VODFLOW_S3_HEAP"], _jars_classpath(s, "s3proxy"))
    return Service("s3", argv, f"http://{host}:{port}", s.home, lambda: health.s3(s),
                   ports=[(host, port)], prestart=lambda: s3proxy.prepare_main(s),
                   description="S3Proxy (filesystem backend)")


# --------------------------------------------------------------------------- the lake's S3
def lake_s3_service(s: Settings) -> Service:
    """SeaweedFS ``weed mini`` for the lake (vodflow/stack/seaweedfs.py): its S3 gateway on
    VODFLOW_LAKE_S3_ENDPOINT, the lake's bucket created at start."""
    try:
        host, port = seaweedfs.address(s)
        argv, ports = seaweedfs.argv(s), [(host, p) for p in seaweedfs.ports(s).values()]
    except seaweedfs.LakeS3Error as e:
        host, port, argv, ports, problem = s.bind_host, 0, ["weed"], [], str(e)
    else:
        problem = ""

    def prestart() -> None:
        if problem:
            raise ServiceError(f"lake-s3: {problem}")
        if not seaweedfs.binary(s).is_file():
            raise ServiceError(f"lake-s3: {seaweedfs.binary(s)} is missing: run `make seaweedfs` (with PROFILE=cluster "
                               "for the cluster profile; `make install PROFILE=cluster` does it)")
        seaweedfs.data_dir(s).mkdir(parents=True, exist_ok=True)

    return Service("lake-s3", argv, f"http://{host}:{port}", s.home, lambda: health.lake_s3(s),
                   env=seaweedfs.env(s), ports=ports,
                   prestart=prestart, stop_timeout=45.0,
                   description="the lake's S3 (SeaweedFS weed mini: atomic put-if-absent)")


# --------------------------------------------------------------------------- Kafka
def kafka_config(s: Settings) -> Path:
    return s.home / "conf" / "kafka.properties"


def kafka_nodes(s: Settings) -> list[tuple[int, str, int, int]]:
    """(node id, host, broker port, controller port) of each local KRaft node: one per address in
    VODFLOW_KAFKA_BOOTSTRAP; node N's controller port is VODFLOW_KAFKA_CONTROLLER_PORT + (its broker port -
    the first broker's)."""
    from vodflow.settings import _host_port

    addrs = [_host_port(a.strip()) for a in s.kafka_bootstrap.split(",") if a.strip()]
    first = addrs[0][1]
    return [(i, s.bind_host, port, s.kafka_controller_port + port - first) for i, (_, port) in enumerate(addrs, 1)]


def kafka_services(s: Settings) -> list[Service]:
    nodes = kafka_nodes(s)
    return [kafka_service(s)] if len(nodes) == 1 else [kafka_service(s, n) for n in range(1, len(nodes) + 1)]


def kafka_service(s: Settings, node: int | None = None) -> Service:
    """One KRaft node; ``node`` None: the embedded single broker ``kafka`` (node 1, a standalone quorum)."""
    nodes = kafka_nodes(s)
    nid, host, port, cport = nodes[(node or 1) - 1]
    name = "kafka" if node is None else f"kafka-{node}"
    data = s.home / "kafka" / ("data" if node is None else f"node-{node}")
    conf = kafka_config(s) if node is None else s.home / "conf" / f"kafka-{node}.properties"
    java = find_java(s)
    cp = _jars_classpath(s, "kafka")
    log4j = s.home / "conf" / "kafka-log4j2.yaml"
    rf, isr = s["VODFLOW_KAFKA_REPLICATION"], s["VODFLOW_KAFKA_MIN_INSYNC"]
    quorum = (f"controller.quorum.bootstrap.servers={host}:{cport}" if node is None else
              "controller.quorum.voters=" + ",".join(f"{i}@{h}:{c}" for i, h, _, c in nodes))

    def prestart() -> None:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join([
            "process.roles=broker,controller",
            f"node.id={nid}",
            quorum,
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "num.network.threads=2",
            "num.io.threads=4",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=4",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            "",
        ]))
        log4j.write_text(
            "Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n      PatternLayout:\n"
            "        pattern: \"[%d] %p %m (%c)%n\"\n  Loggers:\n    Root:\n      level: INFO\n"
            "      AppenderRef:\n        - ref: STDOUT\n"
        )
        meta = data / "meta.properties"
        if not meta.exists():
            import subprocess

            data.mkdir(parents=True, exist_ok=True)
            cluster_id = _kafka_cluster_id(s)
            r = subprocess.run(
                [java, "-cp", cp, f"-Dlog4j2.configurationFile={log4j}", "kafka.tools.StorageTool",
                 "format", *(["--standalone"] if node is None else []), f"--cluster-id={cluster_id}", "-c",
                 str(conf), "--ignore-formatted"],
                capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"formatting Kafka storage in {data} failed:\n{r.stdout}\n{r.stderr}")

    argv = [java, f"-Xmx{s['VODFLOW_KAFKA_HEAP']}", f"-Xms{s['VODFLOW_KAFKA_HEAP']}", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={s.home / 'logs'}", "-cp", cp, "kafka.Kafka", str(conf)]
    return Service(name, argv, f"kafka://{host}:{port}", s.home, lambda: health.kafka(s, f"{host}:{port}"),
                   ports=[(host, port), (host, cport)], prestart=prestart, stop_timeout=30,
                   description="Apache Kafka 4 (KRaft broker+controller)")


def _kafka_cluster_id(s: Settings) -> str:
    f = s.home / "kafka" / "cluster-id"
    if f.exists():
        return f.read_text().strip()
    import base64

    cid = "-"
    while cid.startswith("-"):  # as Kafka's own Uuid.randomUuid: an id starting with '-' reads as an option
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(cid)
    return cid


# --------------------------------------------------------------------------- Spark standalone
def spark_workers(s: Settings) -> int:
    """How many local standalone workers `vodflow up` runs (0 unless VODFLOW_SPARK_MASTER is spark://)."""
    return int(s["VODFLOW_SPARK_WORKERS"]) if s.spark_master.startswith("spark://") else 0


def _spark_home() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pyspark is not installed in this Python: run `make install`")
    return Path(list(spec.submodule_search_locations)[0])


def spark_services(s: Settings) -> list[Service]:
    """The standalone master and its workers (Spark's own daemons, from the pyspark install)."""
    n = spark_workers(s)
    if n == 0:
        return []
    from vodflow.settings import _host_port

    host, port = _host_port(s.spark_master)
    ui = int(s["VODFLOW_SPARK_UI_PORT"])
    java, home = find_java(s), _spark_home()
    daemon = [java, "-Xmx256m", "-cp", f"{home / 'conf'}{os.pathsep}{home / 'jars' / '*'}"]
    scala = next((j.name.split("_", 1)[1].split("-", 1)[0] for j in (home / "jars").glob("spark-core_*.jar")), "2.13")
    # SPARK_SCALA_VERSION: the launcher that builds executor commands looks for build directories without it
    env = {"SPARK_HOME": str(home), "SPARK_SCALA_VERSION": scala, "SPARK_LOCAL_IP": host,
           "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOG_DIR": str(s.home / "logs")}
    master = Service("spark-master", [*daemon, "org.apache.spark.deploy.master.Master", "--host", host,
                                      "--port", str(port), "--webui-port", str(ui)],
                     f"http://{host}:{ui}", s.home, lambda: health.spark_master(f"http://{host}:{ui}"), env=env,
                     ports=[(host, port), (host, ui)], description="Spark standalone master")
    workers = []
    for i in range(1, n + 1):
        work = s.home / "spark" / f"worker-{i}"
        workers.append(Service(
            f"spark-worker-{i}",
            [*daemon, "org.apache.spark.deploy.worker.Worker", "--host", host, "--cores", s["VODFLOW_SPARK_WORKER_CORES"],
             "--memory", s["VODFLOW_SPARK_WORKER_MEMORY"], "--webui-port", str(ui + i), "--work-dir", str(work),
             s.spark_master],
            f"http://{host}:{ui + i}", s.home,
            (lambda w=ui + i: health.spark_worker(f"http://{host}:{ui}", w)), env=env, ports=[(host, ui + i)],
            prestart=(lambda w=work: w.mkdir(parents=True, exist_ok=True)), description="Spark standalone worker"))
    return [master, *workers]


# --------------------------------------------------------------------------- PostgreSQL, Redis
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def local_hosts(s: Settings) -> set[str]:
    return {*LOCAL_HOSTS, s.bind_host}


def postgres_on(s: Settings) -> bool:
    return s["VODFLOW_POSTGRES"].strip().lower() in ("on", "true", "1", "yes")


def postgres_service(s: Settings) -> Service:
    """Debian's PostgreSQL for the databases whose URLs name it (vodflow/stack/postgres.py)."""
    from vodflow.stack import postgres

    host, port = postgres.server_address(s.values, local_hosts(s))
    data = s.home / "postgres" / "data"
    urls = list(postgres.local_urls(s.values, local_hosts(s)).values())
    probe = f"postgresql://{postgres.USER}@{host}:{port}/postgres"
    argv = postgres.server_argv(data, port, host) if postgres.bindir() else ["postgres"]  # prestart names the fix

    def prestart() -> None:
        try:
            postgres.initdb(data)
        except postgres.PostgresError as e:
            raise ServiceError(f"postgres: {e}") from None

    return Service("postgres", argv, probe, s.home, lambda: postgres.ping(probe), ports=[(host, port)],
                   prestart=prestart, poststart=lambda: postgres.ensure_databases(urls), stop_timeout=30.0,
                   description="PostgreSQL (Debian's): Airflow, MLflow and catalog databases")


def redis_service(s: Settings) -> Service:
    """Debian's redis-server on the port of VODFLOW_AIRFLOW_CELERY_BROKER (no persistence: a broker's queue
    is rebuilt by the scheduler, which re-queues what it finds lost)."""
    import shutil
    from urllib.parse import urlsplit

    broker = urlsplit(s["VODFLOW_AIRFLOW_CELERY_BROKER"])
    if broker.scheme != "redis" or broker.hostname not in local_hosts(s):
        raise ServiceError(f"VODFLOW_AIRFLOW_CELERY_WORKERS > 0 runs a local Redis broker: set "
                           f"VODFLOW_AIRFLOW_CELERY_BROKER to redis://127.0.0.1:<port>/0 (it is "
                           f"{s['VODFLOW_AIRFLOW_CELERY_BROKER']!r})")
    host, port = broker.hostname, broker.port or 6379
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    data = s.home / "redis"

    def prestart() -> None:
        if not Path(exe).exists():
            raise ServiceError("redis: redis-server is not installed: apt-get install redis-server (Debian; "
                               "scripts/system-deps.sh does it)")
        data.mkdir(parents=True, exist_ok=True)

    argv = [exe, "--bind", host, "--port", str(port), "--dir", str(data), "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--daemonize", "no"]
    return Service("redis", argv, s["VODFLOW_AIRFLOW_CELERY_BROKER"], s.home,
                   lambda: health.redis(s["VODFLOW_AIRFLOW_CELERY_BROKER"]), ports=[(host, port)],
                   prestart=prestart, description="Redis (Debian's redis-server): the Celery broker")


# --------------------------------------------------------------------------- MLflow
def mlflow_service(s: Settings) -> Service:
    host, port = s.bind_host, s.mlflow_port
    backend = s["VODFLOW_MLFLOW_BACKEND_URI"]

    def prestart() -> None:
        if backend.startswith("sqlite:///"):
            Path(backend[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)

    argv = [_venv_bin("mlflow"), "server", "--host", host, "--port", str(port),
            "--backend-store-uri", backend, "--artifacts-destination", s["VODFLOW_MLFLOW_ARTIFACTS"],
            "--serve-artifacts", "--workers", "1"]
    env = {**s3_env(s), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Service("mlflow", argv, s.mlflow_uri, s.home, lambda: health.http_ok(f"{s.mlflow_uri}/health"),
                   env=env, ports=[(host, port)], prestart=prestart, description="MLflow tracking + registry")


# --------------------------------------------------------------------------- Airflow
def airflow_env(s: Settings) -> dict[str, str]:
    """Environment every Airflow component (and `dag.test()` in tests) runs with."""
    home = s.airflow_home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": s["VODFLOW_AIRFLOW_EXECUTOR"],
        "AIRFLOW__CORE__PARALLELISM": s["VODFLOW_AIRFLOW_PARALLELISM"],
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.airflow_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{s['VODFLOW_AIRFLOW_ADMIN_USER']}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": s["VODFLOW_AIRFLOW_DB_URL"],
        "AIRFLOW__API__SECRET_KEY": s["VODFLOW_AIRFLOW_SECRET"],
        "AIRFLOW__API_AUTH__JWT_SECRET": s["VODFLOW_AIRFLOW_SECRET"],
        "AIRFLOW__API__BASE_URL": s.airflow_url,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"(airflow|vodflow)\..*",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
        "NO_PROXY": "*",
    }
    db = s["VODFLOW_AIRFLOW_DB_URL"]
    if db.startswith("postgresql+psycopg://"):
        # Airflow's async engine would default to asyncpg (not installed); psycopg 3 has an async dialect
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = "postgresql+psycopg_async://" + db.split("://", 1)[1]
    if s["VODFLOW_AIRFLOW_EXECUTOR"] == "CeleryExecutor":
        env["AIRFLOW__CELERY__BROKER_URL"] = s["VODFLOW_AIRFLOW_CELERY_BROKER"]
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = s["VODFLOW_AIRFLOW_CELERY_CONCURRENCY"]
        # task states come from the metadata DB (the executor's default result backend: db+ its URL)
    side = side_ports(s)
    if side:
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(side["worker-log"])
        env["AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT"] = str(side["triggerer-log"])
        env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] = str(side["scheduler-health"])
    env.update(s3_env(s))
    env.update({k: v for k, v in s.values.items()})
    return env


def side_ports(s: Settings) -> dict[str, int]:
    """Airflow's side ports from VODFLOW_AIRFLOW_SIDE_PORT ({} when empty: Airflow's defaults)."""
    first = s["VODFLOW_AIRFLOW_SIDE_PORT"].strip()
    if not first:
        return {}
    p = int(first)
    return {"worker-log": p, "triggerer-log": p + 1, "scheduler-health": p + 2,
            **{f"airflow-worker-{i}": p + 2 + i for i in range(1, celery_workers(s) + 1)}}


def celery_worker_services(s: Settings) -> list[Service]:
    """`airflow celery worker` N times: the same DAG files, tasks pulled from the Redis broker; each its own
    Celery hostname and log-server port."""
    base = airflow_env(s)
    side = side_ports(s)
    out = []
    for i in range(1, celery_workers(s) + 1):
        name = f"airflow-worker-{i}"
        env = dict(base)
        ports = []
        if name in side:
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(side[name])
            ports = [(s.bind_host, side[name])]
        hostname = f"worker-{i}@{s.bind_host}"
        argv = [_venv_bin("airflow"), "celery", "worker", "--celery-hostname", hostname, "--concurrency",
                s["VODFLOW_AIRFLOW_CELERY_CONCURRENCY"], "--queues", "default"]
        out.append(Service(name, argv, s["VODFLOW_AIRFLOW_CELERY_BROKER"], s.home,
                           (lambda h=hostname: health.celery_worker(s["VODFLOW_AIRFLOW_CELERY_BROKER"], h)),
                           env=env, ports=ports, stop_timeout=30.0, description=f"Airflow Celery worker {hostname}"))
    return out


def airflow_services(s: Settings) -> list[Service]:
    env = airflow_env(s)
    airflow = _venv_bin("airflow")
    host, port = s.bind_host, s.airflow_port

    def prestart() -> None:
        from vodflow.stack import airflow_setup

        airflow_setup.prepare(s, env)

    api = Service("airflow-api", [airflow, "api-server", "--host", host, "--port", str(port), "--workers", "1"],
                  s.airflow_url, s.home, lambda: health.airflow_component(s, "api"), env=env,
                  ports=[(host, port)], prestart=prestart, description="Airflow api-server and UI")
    comps = []
    side = side_ports(s)
    for comp, argv_tail, side_port in (("scheduler", ["scheduler"], "scheduler-health"),
                                       ("dag-processor", ["dag-processor"], None),
                                       ("triggerer", ["triggerer"], "triggerer-log")):
        comps.append(Service(f"airflow-{comp}", [airflow, *argv_tail], s.airflow_url, s.home,
                             (lambda c=comp: health.airflow_component(s, c)), env=env,
                             ports=[(host, side[side_port])] if side_port in side else [],
                             description=f"Airflow {comp}"))
    return [api, *comps]


# --------------------------------------------------------------------------- API
def api_service(s: Settings) -> Service:
    host, port = s.bind_host, s.api_port
    argv = [sys.executable, "-m", "uvicorn", "vodflow.api.app:app", "--host", host, "--port", str(port),
            "--workers", "1"]
    return Service("api", argv, s.api_url, s.home, lambda: health.http_ok(f"{s.api_url}/healthz"),
                   env=s3_env(s), ports=[(host, port)], description="vodflow API (uvicorn)")


# --------------------------------------------------------------------------- analytics stream
def analytics_stream_service(s: Settings) -> Service:
    """The watch-analytics Structured Streaming job (Kafka → bronze/silver/quarantine → gold)."""
    status = s.home / "run" / "analytics-stream.json"
    restarts = s.home / "run" / "analytics-stream.restarts.json"
    # under the supervisor: a stream that dies is restarted with backoff (vodflow/stack/supervise.py)
    argv = [sys.executable, "-m", "vodflow.stack.supervise", "--state", str(restarts), "--name", "analytics-stream",
            "--", sys.executable, str(REPO_ROOT / "jobs" / "events_stream.py"), "--mode", "continuous",
            "--status-file", str(status)]

    def prestart() -> None:
        status.unlink(missing_ok=True)
        restarts.unlink(missing_ok=True)

    return Service("analytics-stream", argv, f"file://{status}", s.home,
                   lambda: health.analytics_stream(status, restarts), env=s3_env(s), prestart=prestart,
                   stop_timeout=60.0, description="Spark Structured Streaming: video_events → Delta")


# --------------------------------------------------------------------------- SQL endpoint
def sql_endpoint_service(s: Settings) -> Service:
    """Spark Connect over the lake, every table registered by name (vodflow/analytics/sql_endpoint.py)."""
    from urllib.parse import urlsplit

    status = s.home / "run" / "sql-endpoint.json"
    url = s["VODFLOW_SQL_URL"]
    parts = urlsplit(url)
    argv = [sys.executable, "-m", "vodflow.analytics.sql_endpoint", "--status-file", str(status)]
    return Service("sql-endpoint", argv, url, s.home, lambda: health.sql_endpoint(status, url),
                   env=s3_env(s), ports=[(parts.hostname or s.bind_host, parts.port or 15002)],
                   prestart=lambda: status.unlink(missing_ok=True), stop_timeout=30.0,
                   description="Spark Connect SQL endpoint over the lake's Delta tables")


# --------------------------------------------------------------------------- edge (local CDN)
def edge_origin_service(s: Settings) -> Service:
    """Read-only, unauthenticated S3Proxy over the origin bucket only: what the edge fetches from
    (the local stand-in for CloudFront Origin Access Control; see vodflow/stack/s3proxy.py)."""
    host, port = edge.origin_hostport(s)
    argv = s3proxy.gateway_files(s).argv(find_java(s), "96m", _jars_classpath(s, "s3proxy"))
    return Service("edge-origin", argv, s["VODFLOW_EDGE_ORIGIN_URL"], s.home,
                   lambda: health.http_ok(s["VODFLOW_EDGE_ORIGIN_URL"].rstrip("/") + "/"),
                   ports=[(host, port)], prestart=lambda: s3proxy.prepare_origin_gateway(s),
                   description="read-only origin gateway of the edge (S3Proxy, origin bucket only)")


def edge_service(s: Settings) -> Service:
    """nginx: verifies every request's signature (auth_request to the API), caches by path."""
    def prestart() -> None:
        from vodflow.cdn.keys import KeyConfigError, ensure_keys  # cryptography: loaded only to start the edge

        try:
            ensure_keys(s)  # the API signs and verifies with it; made once, mode 0600, outside the repo
            edge.render_nginx_conf(s)
            edge.check_nginx_conf(s)
        except (edge.EdgeConfigError, KeyConfigError) as e:
            raise ServiceError(f"edge: {e}") from None

    argv = edge.nginx_argv(s) if edge.find_nginx() else ["nginx"]  # the prestart names the fix
    return Service("edge", argv, s["VODFLOW_EDGE_URL"], s.home,
                   lambda: health.http_ok(f"{edge.edge_local_url(s)}/_edge/health"),
                   ports=[(s.bind_host, edge.edge_port(s))], prestart=prestart, stop_timeout=10.0,
                   description="caching edge (nginx): signed URLs, cache by path")


# --------------------------------------------------------------------------- registry
def all_services(s: Settings) -> list[Service]:
    return [s3_service(s), *([lake_s3_service(s)] if seaweedfs.on(s) else []), *kafka_services(s),
            *spark_services(s),
            *([postgres_service(s)] if postgres_on(s) else []), *([redis_service(s)] if celery_workers(s) else []),
            mlflow_service(s), *airflow_services(s), *celery_worker_services(s), api_service(s),
            analytics_stream_service(s), edge_origin_service(s), edge_service(s), sql_endpoint_service(s)]


def enabled(s: Settings, name: str) -> bool:
    """Whether `vodflow up` starts ``name`` (the analytics stream can be switched off)."""
    if name == "analytics-stream":
        return s["VODFLOW_EVENTS_STREAM"].strip().lower() in ("on", "true", "1", "yes")
    if name == "sql-endpoint":
        return s["VODFLOW_SQL_ENDPOINT"].strip().lower() in ("on", "true", "1", "yes")
    if name in ("edge", "edge-origin"):
        on = s["VODFLOW_EDGE"].strip().lower() in ("on", "true", "1", "yes")
        if name == "edge-origin":
            return on and edge.runs_local_gateway(s)
        return on
    return True


def groups(s: Settings) -> list[list[str]]:
    """GROUPS for these settings: ``kafka`` becomes the profile's KRaft nodes, the Spark standalone master
    starts with S3 and Kafka and its workers in the next group (before the stream submits to them);
    PostgreSQL, Redis and the lake's S3 start first, the Celery workers with the scheduler."""
    n = len(kafka_nodes(s))
    names = ["kafka"] if n == 1 else [f"kafka-{i}" for i in range(1, n + 1)]
    workers = spark_workers(s)
    spark = ["spark-master", *[f"spark-worker-{i}" for i in range(1, workers + 1)]] if workers else []
    out = [[m for n in g for m in (names if n == "kafka" else [n])] for g in GROUPS]
    out[0] += (["lake-s3"] if seaweedfs.on(s) else []) + spark[:1] + (["postgres"] if postgres_on(s) else []) + \
        (["redis"] if celery_workers(s) else [])
    out[1] += spark[1:]
    out[2] += [f"airflow-worker-{i}" for i in range(1, celery_workers(s) + 1)]
    return out


# Services in one group start together; groups start in order (the embedded profile; see groups()).
GROUPS: list[list[str]] = [
    ["s3", "kafka"],
    ["mlflow", "airflow-api", "api", "edge-origin"],
    ["airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "analytics-stream", "edge"],
    ["sql-endpoint"],   # last: a second Spark driver, started once the stream's is up (2 cores)
]
