"""The object-store clients' options (vodflow/clients.py): the media on VODFLOW_S3_*, an s3a:// lake on
VODFLOW_LAKE_S3_* falling back to the media's (no service needed: options only)."""

from __future__ import annotations

from vodflow.clients import delta_storage_options, s3_env, spark_s3a_conf
from vodflow.settings import load

MEDIA = {"VODFLOW_S3_ENDPOINT": "http://media:9000", "VODFLOW_S3_ACCESS_KEY": "mk", "VODFLOW_S3_SECRET_KEY": "ms"}
LAKE = {"VODFLOW_LAKE_URI": "s3a://vodflow-lake/lake"}


def test_a_local_lake_has_no_object_store_options():
    s = load({})
    assert spark_s3a_conf(s) == {} and delta_storage_options(s) is None and s.lake_bucket is None


def test_an_s3a_lake_without_lake_settings_uses_the_media_store():
    s = load({**MEDIA, **LAKE})
    assert s.lake_bucket == "vodflow-lake"
    conf, opts = spark_s3a_conf(s), delta_storage_options(s)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == opts["AWS_ENDPOINT_URL"] == opts["AWS_ENDPOINT_URL_S3"] == "http://media:9000"
    assert conf["spark.hadoop.fs.s3a.access.key"] == opts["AWS_ACCESS_KEY_ID"] == "mk"
    assert conf["spark.hadoop.fs.s3a.secret.key"] == opts["AWS_SECRET_ACCESS_KEY"] == "ms"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true" and opts["AWS_ALLOW_HTTP"] == "true"


def test_the_lakes_own_s3_settings_win_and_leave_the_media_alone():
    s = load({**MEDIA, **LAKE, "VODFLOW_LAKE_S3_ENDPOINT": "http://lake:8333", "VODFLOW_LAKE_S3_ACCESS_KEY": "lk",
              "VODFLOW_LAKE_S3_SECRET_KEY": "ls"})
    conf, opts = spark_s3a_conf(s), delta_storage_options(s)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == opts["AWS_ENDPOINT_URL"] == "http://lake:8333"
    assert conf["spark.hadoop.fs.s3a.access.key"] == opts["AWS_ACCESS_KEY_ID"] == "lk"
    assert conf["spark.hadoop.fs.s3a.secret.key"] == opts["AWS_SECRET_ACCESS_KEY"] == "ls"
    # only the lake's keys, never the AWS SDK's environment chain (the processes' AWS_* name the media's store)
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith("SimpleAWSCredentialsProvider")
    env = s3_env(s)
    assert env["AWS_ENDPOINT_URL_S3"] == "http://media:9000" and env["AWS_ACCESS_KEY_ID"] == "mk"
