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
