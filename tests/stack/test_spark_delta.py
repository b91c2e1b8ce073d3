"""Spark with Delta Lake and the Kafka source, from local jars (no run-time downloads)."""

import json
import uuid

from vodflow.clients import kafka_producer


def test_delta_write_read_and_time_travel(stack, spark, tmp_path):
    path = str(tmp_path / "delta_t")
    spark.createDataFrame([(1, "a"), (2, "b")], "id int, v string").write.format("delta").save(path)
    spark.createDataFrame([(3, "c")], "id int, v string").write.format("delta").mode("append").save(path)
    assert sorted(r.id for r in spark.read.format("delta").load(path).collect()) == [1, 2, 3]
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(path)
    assert v0.count() == 2
    from delta.tables import DeltaTable

    assert DeltaTable.forPath(spark, path).history().count() == 2


def test_spark_reads_kafka_topic_with_kafka_source(stack, spark):
    topic = f"test_spark_{uuid.uuid4().hex[:8]}"
    p = kafka_producer(stack)
    for i in range(20):
        p.send(topic, key=str(i % 3).encode(), value=json.dumps({"n": i}).encode())
    p.flush()
    p.close()
    df = (spark.read.format("kafka")
          .option("kafka.bootstrap.servers", stack.kafka_bootstrap)
          .option("subscribe", topic)
          .option("startingOffsets", "earliest").option("endingOffsets", "latest")
          .load())
    rows = df.selectExpr("CAST(value AS STRING) AS v", "offset").collect()
    assert sorted(json.loads(r.v)["n"] for r in rows) == list(range(20))


def test_session_builder_uses_local_jars_only(spark):
    jars = spark.conf.get("spark.jars")
    assert "delta-spark" in jars and "spark-sql-kafka" in jars
    assert all(j.startswith("/") for j in jars.split(","))  # local paths, never maven coordinates
    assert not spark.conf.get("spark.jars.packages", "")
