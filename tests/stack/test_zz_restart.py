"""`vodflow down && vodflow up` keeps data: the object, the Delta table and the topic's messages survive."""

import subprocess
import sys
import uuid

import pytest

from vodflow.clients import kafka_consumer, kafka_producer, s3_client


@pytest.mark.restarts_stack
def test_data_survives_down_and_up(stack, spark):
    s3 = s3_client(stack)
    key = f"test/persist/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=stack.bucket_masters, Key=key, Body=b"still here")
    topic = f"test_persist_{uuid.uuid4().hex[:8]}"
    p = kafka_producer(stack)
    for i in range(10):
        p.send(topic, value=f"m{i}".encode())
    p.flush()
    p.close()
    table = stack.table_path(f"test_persist_{uuid.uuid4().hex[:8]}")
    spark.createDataFrame([(i,) for i in range(5)], "n int").write.format("delta").save(table)

    for cmd in (["down"], ["up"]):
        r = subprocess.run([sys.executable, "-m", "vodflow.cli", *cmd], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr

    assert s3_client(stack).get_object(Bucket=stack.bucket_masters, Key=key)["Body"].read() == b"still here"
    c = kafka_consumer(topic, settings=stack, group_id=f"g-{uuid.uuid4().hex[:6]}")
    assert [r.value for r in c] == [f"m{i}".encode() for i in range(10)]
    c.close()
    assert spark.read.format("delta").load(table).count() == 5
