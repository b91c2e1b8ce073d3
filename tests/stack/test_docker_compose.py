"""docker/ describes the multi-host deployment with the same VODFLOW_* names (validated statically:
there is no Docker engine on this machine)."""

import re
from pathlib import Path

import yaml

from vodflow.settings import REPO_ROOT, SPECS, load

DOCKER = REPO_ROOT / "docker"


def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_services_present():
    svcs = set(compose()["services"])
    assert {"kafka-1", "kafka-2", "kafka-3", "minio", "spark-master", "spark-worker", "mlflow", "postgres", "airflow-api",
            "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"} <= svcs


def test_uses_only_known_vodflow_settings():
    known = {s.env for s in SPECS}
    text = (DOCKER / "compose.yaml").read_text()
    used = set(re.findall(r"\b(VODFLOW_[A-Z0-9_]+)\b", text))
    assert used <= known, f"unknown settings in compose: {used - known}"
    env = compose()["x-vodflow-env"]
    # every service address the code needs is configured for the cluster
    for key in ("VODFLOW_KAFKA_BOOTSTRAP", "VODFLOW_S3_ENDPOINT", "VODFLOW_SPARK_MASTER", "VODFLOW_MLFLOW_URI",
                "VODFLOW_AIRFLOW_URL", "VODFLOW_AIRFLOW_DB_URL", "VODFLOW_LAKE_URI", "VODFLOW_CATALOG_DB_URL"):
        assert key in env


def test_cluster_values_resolve_through_the_settings_module():
    env = {k: str(v) for k, v in compose()["x-vodflow-env"].items()}
    s = load(env)
    assert s.kafka_bootstrap == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert s.spark_master.startswith("spark://")
    assert s.lake_uri.startswith("s3a://")
    assert s.kafka_port == 9092 and s.s3_port == 9000 and s.mlflow_port == 5000 and s.airflow_port == 8080


def test_published_ports_match_settings_ports():
    svcs = compose()["services"]
    env = {k: str(v) for k, v in compose()["x-vodflow-env"].items()}
    s = load(env)
    def ports(name):
        return {int(p.split(":")[1]) for p in svcs[name].get("ports", [])}
    assert s.kafka_port in ports("kafka-1")
    assert s.s3_port in ports("minio")
    assert s.mlflow_port in ports("mlflow")
    assert s.airflow_port in ports("airflow-api")


def test_dockerfile_copies_existing_paths():
    df = (DOCKER / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(.+?) \S+$", df, flags=re.M):
        for p in src.split():
            assert (REPO_ROOT / p.rstrip("/")).exists(), f"Dockerfile copies missing {p}"
