"""The stream's batch settings (VODFLOW_EVENTS_SPARK_CONF): adaptive execution off by default, bad items named."""

import pytest

from vodflow.analytics.stream import StreamConfig
from vodflow.settings import load
from vodflow.spark import SparkSetupError


def test_adaptive_execution_is_off_in_batches_by_default(monkeypatch):
    monkeypatch.delenv("VODFLOW_EVENTS_SPARK_CONF", raising=False)
    cfg = StreamConfig.from_settings(load())
    assert dict(cfg.sql_conf) == {"spark.sql.adaptive.enabled": "false"}


def test_a_bad_item_names_the_setting(monkeypatch):
    monkeypatch.setenv("VODFLOW_EVENTS_SPARK_CONF", "spark.sql.adaptive.enabled")
    with pytest.raises(SparkSetupError, match="VODFLOW_EVENTS_SPARK_CONF: 'spark.sql.adaptive.enabled' is not key=value"):
        StreamConfig.from_settings(load())
