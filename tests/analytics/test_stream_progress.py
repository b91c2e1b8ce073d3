"""`vodflow stream`: the stream's recent micro-batches and the seconds of each step, read from gold_progress."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from lakekit import _write
from vodflow.analytics.stream_progress import recent_batches
from vodflow.settings import get_settings, load

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def progress_lake(tmp_path, monkeypatch):
    _write(tmp_path, "gold_progress", [
        dict(batch_id=b, events=n, max_server_ts=T0, freshness_p50_s=2.0, freshness_p99_s=p99,
             freshness_hist=[0, n], committed_at=T0 + timedelta(seconds=10 * b), rows=n + q, quarantined=q,
             max_client_ts=T0, watermark=T0 - timedelta(minutes=15),
             steps=[("silver", 1.5), ("read", 0.25), ("sessions", 2.0), ("total", total)])
        for b, n, q, p99, total in ((0, 100, 2, 9.5, 6.0), (1, 40, 0, 4.0, 3.5), (2, 8, 1, 3.0, 2.75))])
    monkeypatch.setenv("VODFLOW_LAKE_URI", str(tmp_path))
    get_settings.cache_clear()
    yield load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path)})
    get_settings.cache_clear()


def test_recent_batches_newest_first_with_steps_in_run_order(progress_lake):
    got = recent_batches(progress_lake, last=2)
    assert [b.batch_id for b in got] == [2, 1]
    assert (got[0].rows, got[0].events, got[0].quarantined, got[0].total_s) == (9, 8, 1, 2.75)
    assert list(got[0].steps) == ["read", "silver", "sessions"]            # the order a batch runs them


def test_cli_shows_the_batches_and_says_what_to_do_when_there_are_none(progress_lake, tmp_path, monkeypatch):
    from vodflow.cli import app

    r = CliRunner().invoke(app, ["stream", "--json", "-n", "5"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["batch_id"] for x in rows] == [2, 1, 0] and rows[2]["steps"]["sessions"] == 2.0
    table = CliRunner().invoke(app, ["stream"])
    assert table.exit_code == 0 and "sessions" in table.output and "quarantined" in table.output
    monkeypatch.setenv("VODFLOW_LAKE_URI", str(tmp_path / "empty"))
    get_settings.cache_clear()
    empty = CliRunner().invoke(app, ["stream"])
    assert empty.exit_code == 0 and "has not committed a batch yet" in empty.output
