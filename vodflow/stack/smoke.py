"""Round trips through every service; used by `vodflow smoke`, `make demo` and the stack_smoke DAG."""

from __future__ import annotations

import time
import uuid
from typing import Callable

from vodflow.clients import kafka_consumer, kafka_producer, s3_client
from vodflow.settings import Settings, get_settings

SMOKE_TOPIC = "vodflow_smoke"


def s3_round_trip(message: str, key: str | None = None, s: Settings | None = None) -> str:
    s = s or get_settings()
    key = key or f"smoke/{uuid.uuid4()}.txt"
    c = s3_client(s)
    c.put_object(Bucket=s.bucket_masters, Key=key, Body=message.encode(), ContentType="text/plain")
    got = c.get_object(Bucket=s.bucket_masters, Key=key)["Body"].read().decode()
    if got != message:
        raise RuntimeError(f"S3 round trip returned {got!r}, expected {message!r}")
    return key


def kafka_round_trip(message: str, s: Settings | None = None) -> int:
    """Produce one message and read it back by offset; returns the offset."""
    s = s or get_settings()
    from kafka import TopicPartition

    p = kafka_producer(s)
    md = p.send(SMOKE_TOPIC, key=b"smoke", value=message.encode()).get(timeout=30)
    p.close()
    c = kafka_consumer(settings=s)
    tp = TopicPartition(SMOKE_TOPIC, md.partition)
    c.assign([tp])
    c.seek(tp, md.offset)
    for rec in c:
        if rec.offset == md.offset:
            c.close()
            if rec.value.decode() != message:
                raise RuntimeError("Kafka round trip returned a different payload")
            return md.offset
    c.close()
    raise RuntimeError(f"message at offset {md.offset} not read back from {SMOKE_TOPIC}")


def spark_delta_round_trip(s: Settings | None = None) -> int:
    s = s or get_settings()
    from vodflow.spark import get_spark

    spark = get_spark("vodflow-smoke", s)
    try:
        path = s.table_path("smoke")
        spark.createDataFrame([(int(time.time()), "ok")], "ts long, status string") \
            .write.format("delta").mode("append").save(path)
        return spark.read.format("delta").load(path).count()
    finally:
        # a one-shot check: on a Spark cluster a session left open keeps its executors' cores (the demo's
        # process lives on and training would wait for them)
        spark.stop()


def mlflow_round_trip(s: Settings | None = None) -> str:
    s = s or get_settings()
    import mlflow

    mlflow.set_tracking_uri(s.mlflow_uri)
    mlflow.set_experiment("vodflow-smoke")
    with mlflow.start_run(run_name="smoke") as run:
        mlflow.log_param("source", "vodflow smoke")
        mlflow.log_metric("ok", 1.0)
        mlflow.log_text("smoke artifact", "smoke.txt")
    return run.info.run_id


def airflow_round_trip(s: Settings | None = None, timeout: float = 180) -> str:
    """Trigger stack_smoke through Airflow's REST API and wait for it to succeed."""
    from vodflow.airflow_client import AirflowClient

    s = s or get_settings()
    client = AirflowClient(s)
    run = client.trigger("stack_smoke", conf={"message": "smoke from vodflow"}, wait_for_dag_seconds=120)
    state = client.wait(run["dag_id"], run["dag_run_id"], timeout=timeout)
    if state != "success":
        raise RuntimeError(f"stack_smoke run {run['dag_run_id']} ended {state}: see the Airflow UI")
    return run["dag_run_id"]


def run_all(s: Settings, report: Callable[[str], None] = print) -> bool:
    ok = True
    steps = [
        ("S3 put/get", lambda: s3_round_trip("hello vodflow", s=s)),
        ("Kafka produce/consume", lambda: kafka_round_trip("hello vodflow", s=s)),
        ("Spark + Delta write/read", lambda: spark_delta_round_trip(s)),
        ("MLflow run + artifact", lambda: mlflow_round_trip(s)),
        ("Airflow DAG run (stack_smoke)", lambda: airflow_round_trip(s)),
    ]
    for name, fn in steps:
        t = time.monotonic()
        try:
            out = fn()
            report(f"[green]ok[/]   {name}: {out} ({time.monotonic() - t:.1f}s)")
        except Exception as e:  # noqa: BLE001
            ok = False
            report(f"[red]FAIL[/] {name}: {type(e).__name__}: {e}")
    return ok
