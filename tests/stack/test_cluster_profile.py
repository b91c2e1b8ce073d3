"""The cluster profile (vodflow/stack/cluster.env), docker/compose.yaml and the Kubernetes sketch
(docker/k8s/) kept in step with the settings table: parsed statically, no Docker or Kubernetes needed."""

import re
import time

import pytest
import yaml

from vodflow.settings import REPO_ROOT, SPECS, load
from vodflow.stack import profile
from vodflow.stack.services import all_services, celery_workers, groups, kafka_nodes, side_ports, spark_workers

DOCKER = REPO_ROOT / "docker"
K8S = DOCKER / "k8s"
KNOWN = {s.env for s in SPECS}
DEFAULTS = load({})


def k8s_docs():
    return [(p.name, d) for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
            if d and "kind" in d]


def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def cluster():
    return load(profile.values("cluster"))


@pytest.mark.parametrize("path", [DOCKER / "compose.yaml", *sorted(K8S.glob("*.yaml")),
                                  profile.PROFILES["cluster"]], ids=lambda p: p.name)
def test_every_vodflow_setting_they_set_exists(path):
    used = set(re.findall(r"\b(VODFLOW_[A-Z0-9_]+)\b", path.read_text()))
    assert used <= KNOWN, f"{path.name} names settings missing from SPECS: {sorted(used - KNOWN)}"


def with_jars(tmp_path, values):
    """Settings with their home in ``tmp_path``, holding the jar directories services are built from."""
    for part in ("kafka", "s3proxy"):
        (tmp_path / "jars" / part).mkdir(parents=True, exist_ok=True)
        (tmp_path / "jars" / part / f"{part}.jar").touch()
    return load({**values, "VODFLOW_HOME": str(tmp_path)})


def test_cluster_profile_runs_beside_the_embedded_stack(tmp_path):
    assert cluster().home != DEFAULTS.home and cluster().home.name == ".vodflow-cluster"
    c, d = with_jars(tmp_path / "c", profile.values("cluster")), with_jars(tmp_path / "d", {})
    ports = lambda s: {*[p for svc in all_services(s) for _, p in svc.ports], *side_ports(s).values(),
                       s.s3_port, s.mlflow_port, s.airflow_port, *[p for _, _, p, _ in kafka_nodes(s)],
                       *[cp for *_, cp in kafka_nodes(s)],
                       *([int(s["VODFLOW_SPARK_UI_PORT"])] if spark_workers(s) else []),
                       int(s["VODFLOW_EDGE_PORT"]), int(s.api_url.rsplit(":", 1)[1]),
                       int(s["VODFLOW_SQL_URL"].rsplit(":", 1)[1]), int(s["VODFLOW_EDGE_ORIGIN_URL"].rsplit(":", 1)[1])}
    assert not ports(c) & ports(d), f"cluster ports collide with the embedded stack's: {ports(c) & ports(d)}"
    assert len(kafka_nodes(c)) == 3 and c["VODFLOW_KAFKA_REPLICATION"] == "3" and c["VODFLOW_KAFKA_MIN_INSYNC"] == "2"
    assert c.spark_master.startswith("spark://") and spark_workers(c) == 2
    # Airflow's side ports stay Airflow's defaults in the embedded stack (8793 logs, 8794 triggerer, 8974 health)
    assert not side_ports(d) and not {8793, 8794, 8974} & ports(c)


def test_profile_never_reuses_another_stacks_home(tmp_path):
    env = {"VODFLOW_HOME": str(tmp_path / "lead"), "VODFLOW_KAFKA_HEAP": "384m"}
    profile.apply("cluster", env)
    assert env["VODFLOW_HOME"].endswith(".vodflow-cluster")  # forced
    assert env["VODFLOW_KAFKA_HEAP"] == "384m"                 # anything else set already wins
    with pytest.raises(profile.ProfileError, match="choose one of"):
        profile.values("huge")


def test_embedded_groups_unchanged():
    names = [n for g in groups(DEFAULTS) for n in g]
    assert "kafka" in names and not [n for n in names if n.startswith(("kafka-", "spark-"))]


def test_every_cluster_service_is_in_compose():
    svcs = compose()["services"]
    # local name -> compose name where they differ: MinIO is the S3 server; it also serves the edge's origin
    alias = {"s3": "minio", "edge-origin": "minio"}
    replicas = {kind: svcs[kind]["deploy"]["replicas"] for kind in ("spark-worker", "airflow-worker")}
    for name in (n for g in groups(cluster()) for n in g):
        kind, _, n = name.rpartition("-")
        if kind in replicas:
            assert int(n) <= replicas[kind], f"compose runs {replicas[kind]} of {kind}, the profile more"
            continue
        assert alias.get(name, name) in svcs, f"cluster service {name} missing from docker/compose.yaml"
    assert svcs["airflow-worker"]["deploy"]["replicas"] == 2


def test_compose_kafka_matches_the_profile():
    svcs, c = compose()["services"], cluster()
    env = {k: str(v) for k, v in compose()["x-vodflow-env"].items()}
    nodes = sorted(n for n in svcs if n.startswith("kafka-"))
    assert len(nodes) == len(kafka_nodes(c)) == len(env["VODFLOW_KAFKA_BOOTSTRAP"].split(","))
    kenv = svcs["kafka-1"]["environment"]
    assert str(kenv["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == env["VODFLOW_KAFKA_REPLICATION"] == c["VODFLOW_KAFKA_REPLICATION"]
    assert str(kenv["KAFKA_MIN_INSYNC_REPLICAS"]) == env["VODFLOW_KAFKA_MIN_INSYNC"] == c["VODFLOW_KAFKA_MIN_INSYNC"]
    assert {int(v.split(":")[1]) for v in kenv["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")} == {DEFAULTS.kafka_controller_port}
    spark_ports = {int(p.split(":")[0]) for p in svcs["spark-master"]["ports"]}
    assert int(DEFAULTS["VODFLOW_SPARK_UI_PORT"]) in spark_ports


def test_k8s_sketch_matches_settings():
    docs = k8s_docs()
    kinds = {d["kind"] for _, d in docs}
    assert {"ConfigMap", "Kafka", "KafkaNodePool", "KafkaTopic", "SparkApplication"} <= kinds
    cfg = next(d["data"] for _, d in docs if d["kind"] == "ConfigMap")
    s = load({k: str(v) for k, v in cfg.items()})
    c = cluster()
    # ports agree with the defaults
    service_ports = {d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for _, d in docs if d["kind"] == "Service"}
    assert DEFAULTS.mlflow_port in service_ports["mlflow"] == {s.mlflow_port}
    assert DEFAULTS.s3_port in service_ports["minio"] == {s.s3_port}
    assert {int(DEFAULTS.api_url.rsplit(":", 1)[1])} == service_ports["vodflow-api"] == {int(s.api_url.rsplit(":", 1)[1])}
    kafka = next(d for _, d in docs if d["kind"] == "Kafka")
    assert {lst["port"] for lst in kafka["spec"]["kafka"]["listeners"]} == {DEFAULTS.kafka_port, s.kafka_port}
    # replication as the cluster profile and the ConfigMap say
    conf = kafka["spec"]["kafka"]["config"]
    assert str(conf["default.replication.factor"]) == cfg["VODFLOW_KAFKA_REPLICATION"] == c["VODFLOW_KAFKA_REPLICATION"]
    assert str(conf["min.insync.replicas"]) == cfg["VODFLOW_KAFKA_MIN_INSYNC"] == c["VODFLOW_KAFKA_MIN_INSYNC"]
    pool = next(d for _, d in docs if d["kind"] == "KafkaNodePool")
    assert pool["spec"]["replicas"] == len(kafka_nodes(c)) and set(pool["spec"]["roles"]) == {"broker", "controller"}
    topics = {d["spec"]["topicName"]: d["spec"] for _, d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == set(s.topics)
    assert topics[s.topic_events]["partitions"] == s.topics[s.topic_events]
    assert all(t["replicas"] == int(cfg["VODFLOW_KAFKA_REPLICATION"]) for t in topics.values())
    # the stream: the same job file, as many executors as the profile has workers
    app = next(d for _, d in docs if d["kind"] == "SparkApplication")
    job = app["spec"]["mainApplicationFile"].rsplit("/jobs/", 1)[1]
    assert (REPO_ROOT / "jobs" / job).is_file()
    assert app["spec"]["executor"]["instances"] == spark_workers(c)


def test_airflow_helm_values_match_compose():
    v = yaml.safe_load((K8S / "airflow-values.yaml").read_text())
    c = compose()["services"]
    assert v["executor"] == "CeleryExecutor" == compose()["x-vodflow-env"]["VODFLOW_AIRFLOW_EXECUTOR"]
    assert v["workers"]["replicas"] == c["airflow-worker"]["deploy"]["replicas"]
    assert {p["port"] for p in v["apiServer"]["service"]["ports"]} == {DEFAULTS.airflow_port}
    assert "vodflow-config" in v["extraEnvFrom"]
    assert (REPO_ROOT / v["config"]["core"]["dags_folder"].replace("/opt/vodflow/", "")).is_dir()


def test_cluster_services_built_from_the_profile(tmp_path):
    from vodflow.stack.services import kafka_services, spark_services

    s = with_jars(tmp_path, profile.values("cluster"))
    kafka = kafka_services(s)
    assert [k.name for k in kafka] == ["kafka-1", "kafka-2", "kafka-3"]
    assert sorted(p for k in kafka for _, p in k.ports) == [19092, 19093, 19094, 19095, 19096, 19097]
    master, *workers = spark_services(s)
    assert master.name == "spark-master" and "17077" in master.argv and "18081" in master.argv
    assert [w.name for w in workers] == ["spark-worker-1", "spark-worker-2"]
    for w in workers:
        assert w.argv[-1] == s.spark_master and w.argv[w.argv.index("--cores") + 1] == s["VODFLOW_SPARK_WORKER_CORES"]
        assert w.env["SPARK_SCALA_VERSION"] and w.env["SPARK_HOME"]
    assert spark_services(load({"VODFLOW_HOME": str(tmp_path)})) == []  # embedded: local mode, no daemons


def test_cluster_airflow_runs_on_celery_and_postgres(tmp_path):
    """The cluster profile's Airflow: CeleryExecutor on a local Redis, 2 Celery workers, and Airflow, MLflow and
    the catalog on one local PostgreSQL through psycopg 3 (the installed driver); compose says the same."""
    import importlib.util

    from sqlalchemy.engine import make_url

    from vodflow.stack.services import airflow_env, celery_worker_services, postgres_service, redis_service

    env = profile.values("cluster")
    env["VODFLOW_HOME"] = str(tmp_path)
    s = load(env)
    urls = [make_url(s[k]) for k in ("VODFLOW_AIRFLOW_DB_URL", "VODFLOW_MLFLOW_BACKEND_URI", "VODFLOW_CATALOG_DB_URL")]
    assert {u.drivername for u in urls} == {"postgresql+psycopg"} and importlib.util.find_spec("psycopg")
    assert len({(u.host, u.port) for u in urls}) == 1 and len({u.database for u in urls}) == 3
    pg = postgres_service(s)
    assert pg.ports == [(urls[0].host, urls[0].port)] and str(tmp_path) in " ".join(pg.argv)
    redis = redis_service(s)
    assert redis.ports == [("127.0.0.1", 16379)] and "redis-server" in redis.argv[0]
    a = airflow_env(s)
    assert a["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and a["AIRFLOW__CELERY__BROKER_URL"] == s["VODFLOW_AIRFLOW_CELERY_BROKER"]
    assert a["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == s["VODFLOW_AIRFLOW_DB_URL"]
    workers = celery_worker_services(s)
    assert celery_workers(s) == 2 and [w.name for w in workers] == ["airflow-worker-1", "airflow-worker-2"]
    log_ports = {w.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for w in workers}
    assert len(log_ports) == 2 and {int(p) for p in log_ports} == {p for w in workers for _, p in w.ports}
    assert celery_worker_services(DEFAULTS) == [] and "AIRFLOW__CELERY__BROKER_URL" not in airflow_env(DEFAULTS)
    # compose: the same driver and broker role
    xenv, aenv = compose()["x-vodflow-env"], compose()["x-airflow-env"]
    for k in ("VODFLOW_AIRFLOW_DB_URL", "VODFLOW_MLFLOW_BACKEND_URI", "VODFLOW_CATALOG_DB_URL"):
        assert make_url(xenv[k].replace("${POSTGRES_PASSWORD:-vodflow}", "x")).drivername == "postgresql+psycopg", k
    assert aenv["AIRFLOW__CELERY__BROKER_URL"] == xenv["VODFLOW_AIRFLOW_CELERY_BROKER"]
    assert aenv["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == xenv["VODFLOW_AIRFLOW_DB_URL"]


def test_encode_pool_spans_the_celery_workers():
    from vodflow.stack.airflow_setup import pools

    assert pools(cluster())["encode"][0] == celery_workers(cluster()) * pools(DEFAULTS)["encode"][0]
    assert pools(cluster())["spark"] == pools(DEFAULTS)["spark"]


def _mib(size: str) -> int:
    """A JVM size (``640m``, ``2g``, ``2000m``) in MiB."""
    n, unit = int(size[:-1]), size[-1].lower()
    return n * {"m": 1, "g": 1024}[unit]


def test_spark_workers_fit_three_applications_side_by_side():
    """The stream, a maintenance job and a third application (the smoke check, training or a SQL endpoint
    query) each get spark.cores.max executors at once on the profile's workers, in cores and in memory:
    with fewer slots the smoke check and training queued behind the start-up OPTIMIZE (docs/reliability.md)."""
    from vodflow.spark import parse_conf

    s = cluster()
    conf = parse_conf(s, "VODFLOW_SPARK_CONF")
    workers, cores = int(s["VODFLOW_SPARK_WORKERS"]), int(s["VODFLOW_SPARK_WORKER_CORES"])
    per_app, executor_cores = int(conf["spark.cores.max"]), int(conf["spark.executor.cores"])
    assert workers * cores >= 3 * per_app
    executors_per_worker = cores // executor_cores
    assert _mib(s["VODFLOW_SPARK_WORKER_MEMORY"]) >= executors_per_worker * _mib(conf["spark.executor.memory"])


def test_compose_edge_policy_reaches_the_edge_container(tmp_path):
    """The edge_policy DAG runs in an airflow-worker container: it must write the policy map where the edge
    container's nginx reads it (a shared volume at the edge directory), reach the edge for its fill, and the
    edge container must reload nginx when the map changes (the worker cannot signal it). The edge command's
    watch loop is run here with a stand-in nginx that records its reloads."""
    import subprocess

    from vodflow.cdn.edge import POLICY_WATCH_S, edge_dir, edge_local_url
    from vodflow.cdn.policy import map_file

    svcs = compose()["services"]
    s = load({k: str(v) for k, v in svcs["airflow-worker"]["environment"].items() if k.startswith("VODFLOW_")})
    d = str(edge_dir(s))
    mount = lambda svc: {v.split(":")[0] for v in svcs[svc].get("volumes", []) if v.split(":")[1] == d}
    assert mount("airflow-worker") and mount("airflow-worker") == mount("edge") == mount("edge-config")
    assert edge_local_url(s) == "http://edge:8088" and svcs["edge"]["ports"] == ["8088:8088"]
    script = svcs["edge"]["command"][2]
    assert f"sleep {POLICY_WATCH_S}" in script and str(map_file(s).relative_to(d)) in script

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nginx").write_text(f'#!/bin/sh\ncase "$*" in *"-s reload"*) echo reload >> {tmp_path}/log;; '
                                f'*) echo start >> {tmp_path}/log; exec sleep 30;; esac\n')
    (fake / "nginx").chmod(0o755)
    (tmp_path / "edge" / "run").mkdir(parents=True)
    (tmp_path / "edge" / "policy").mkdir()
    (tmp_path / "edge" / "policy" / "titles.map").write_text("old\n")
    script = (script.replace("$$", "$").replace(d, str(tmp_path / "edge"))
              .replace(f"sleep {POLICY_WATCH_S}", "sleep 0.3"))
    p = subprocess.Popen(["sh", "-c", script], env={"PATH": f"{fake}:/usr/bin:/bin"})
    try:
        time.sleep(1.2)
        assert (tmp_path / "log").read_text().split() == ["start"]          # an unchanged map: no reload
        time.sleep(0.1)
        (tmp_path / "edge" / "policy" / "titles.map").write_text("new\n")
        time.sleep(1.2)
        assert (tmp_path / "log").read_text().split() == ["start", "reload"]  # once per change
    finally:
        p.terminate()
        p.wait(5)


def test_edge_internal_url_overrides_the_local_edge():
    from vodflow.cdn.edge import edge_local_url

    assert edge_local_url(load({"VODFLOW_BIND_HOST": "127.0.0.1", "VODFLOW_EDGE_PORT": "9"})) == "http://127.0.0.1:9"
    assert edge_local_url(load({"VODFLOW_EDGE_INTERNAL_URL": "http://edge:8088/"})) == "http://edge:8088"


def test_the_lake_is_on_its_own_s3_with_the_conditional_logstore_everywhere():
    """The profile, compose and the Kubernetes sketch agree: Delta tables on s3a:// on the lake's own S3 server
    (lake-s3; the media stay on their S3), every Spark commit through vodflow's put-if-absent LogStore."""
    from vodflow.spark import parse_conf

    logstore = ("spark.delta.logStore.s3a.impl", "io.vodflow.storage.S3ConditionalLogStore")
    c = cluster()
    assert c.lake_uri.startswith("s3a://") and c["VODFLOW_LAKE_S3"] == "on"
    assert c.lake_s3_endpoint != c.s3_endpoint and logstore in parse_conf(c, "VODFLOW_SPARK_CONF").items()
    env = {k: str(v) for k, v in compose()["x-vodflow-env"].items()}
    d = load(env)
    svcs = compose()["services"]
    assert d.lake_uri.startswith("s3a://") and d.lake_s3_endpoint == "http://lake-s3:8333" != d.s3_endpoint
    assert logstore in parse_conf(d, "VODFLOW_SPARK_CONF").items()
    lake = svcs["lake-s3"]
    assert lake["image"].startswith("chrislusf/seaweedfs:") and f"-bucket={d.lake_bucket}" in lake["command"]
    assert "-s3.port=8333" in lake["command"]
    assert "lake-s3" in svcs["analytics-stream"]["depends_on"]
    assert "cd maven/s3a && mvn" in (DOCKER / "Dockerfile").read_text()  # the LogStore's jars in the image
    docs = k8s_docs()
    cfg = next(doc["data"] for _, doc in docs if doc["kind"] == "ConfigMap")
    k = load({kk: str(v) for kk, v in cfg.items()})
    assert k.lake_uri.startswith("s3a://") and k.lake_s3_endpoint == "http://lake-s3:8333"
    assert {p["port"] for _, doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == "lake-s3"
            for p in doc["spec"]["ports"]} == {8333}
    app = next(doc for _, doc in docs if doc["kind"] == "SparkApplication")
    assert app["spec"]["sparkConf"][logstore[0]] == logstore[1]
    assert any("/jars/s3a/" in j for j in app["spec"]["deps"]["jars"])
