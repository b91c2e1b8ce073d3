"""VODFLOW_SPARK_CONF: extra Spark settings by configuration (no Spark started here)."""

from __future__ import annotations

import pytest

from vodflow.settings import load
from vodflow.spark import SparkSetupError, extra_conf_from_settings


def test_extra_conf_is_parsed_into_key_value_pairs():
    s = load({"VODFLOW_SPARK_CONF": " spark.sql.adaptive.enabled=false, spark.executor.cores=4 ,"})
    assert extra_conf_from_settings(s) == {"spark.sql.adaptive.enabled": "false", "spark.executor.cores": "4"}
    assert extra_conf_from_settings(load({})) == {}


def test_a_bad_item_is_named_with_the_fix():
    with pytest.raises(SparkSetupError, match=r"'spark.sql.adaptive.enabled' is not key=value"):
        extra_conf_from_settings(load({"VODFLOW_SPARK_CONF": "spark.sql.adaptive.enabled"}))


def _jar_dirs(tmp_path):
    (tmp_path / "jars" / "spark").mkdir(parents=True)
    (tmp_path / "jars" / "spark" / "delta-spark_2.13-4.4.0.jar").touch()
    return tmp_path / "jars" / "s3a"


def test_an_s3a_lake_puts_the_s3a_jars_on_the_classpath(tmp_path):
    from vodflow.spark import spark_jars

    s3a = _jar_dirs(tmp_path)
    local = load({"VODFLOW_HOME": str(tmp_path)})
    assert [j.rsplit("/", 1)[1] for j in spark_jars(local)] == ["delta-spark_2.13-4.4.0.jar"]  # embedded: unchanged
    lake = load({"VODFLOW_HOME": str(tmp_path), "VODFLOW_LAKE_URI": "s3a://lake/x"})
    with pytest.raises(SparkSetupError, match="make jars-s3a"):
        spark_jars(lake)
    s3a.mkdir()
    (s3a / "hadoop-aws-3.5.0.jar").touch()
    (s3a / "vodflow-s3a-logstore.jar").touch()
    assert {j.rsplit("/", 1)[1] for j in spark_jars(lake)} == {"delta-spark_2.13-4.4.0.jar", "hadoop-aws-3.5.0.jar",
                                                              "vodflow-s3a-logstore.jar"}
