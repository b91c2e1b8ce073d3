"""`vodflow report dropoff`: the retention numbers from title_daily and the PNG chart (no JVM)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from lakekit import TITLE_NAMES, TODAY, VIDEO_A, VIDEO_B, VIDEO_C, _write, build_lake

from vodflow.analytics.query import AnalyticsError
from vodflow.analytics.report import dropoff_chart, dropoff_data
from vodflow.settings import load


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    assert data[-8:-4] == b"IEND", "truncated PNG"
    return struct.unpack(">II", data[16:24])


def test_dropoff_all_days(lake):
    d = dropoff_data(VIDEO_A, lake)
    assert (d.views, d.completions, d.days, d.watch_time_s) == (40, 16, 3, 63000.0)
    assert d.first_date < d.last_date == TODAY
    assert d.dropoff[0] == 16 and sum(d.dropoff) == 24 and d.unbucketed == 0
    assert d.positions == list(range(0, 101, 5))
    r = d.retention
    assert (r[0], r[1], r[4], r[5], r[10], r[15], r[20]) == pytest.approx((1, 0.6, 0.6, 0.575, 0.475, 0.425, 0.4))
    assert r[-1] == pytest.approx(d.completion_rate)           # every view completed or ended in a bucket


def test_dropoff_last_days(lake):
    d = dropoff_data(VIDEO_A, lake, days=7, today=TODAY)        # today and 2 days ago; not the row of day -10
    assert (d.views, d.completions, d.days) == (20, 6, 2)
    assert d.dropoff[:5] == [6, 0, 0, 0, 1] and d.dropoff[9] == 4 and d.dropoff[19] == 1
    assert d.retention[-1] == pytest.approx(0.3) == pytest.approx(d.completion_rate)


def test_views_at_unknown_positions_are_reported(lake):
    d = dropoff_data(VIDEO_C, lake)
    assert (d.views, d.completions, sum(d.dropoff), d.unbucketed) == (4, 1, 2, 1)
    assert d.retention[-1] == pytest.approx(0.5) and d.completion_rate == pytest.approx(0.25)


def test_chart_is_a_sensible_png(lake, tmp_path):
    out = dropoff_chart(dropoff_data(VIDEO_A, lake), tmp_path / "sub" / "a.png")
    assert out == tmp_path / "sub" / "a.png"
    assert png_size(out) == (1000, 560)
    assert 15_000 < out.stat().st_size < 500_000


def test_errors(lake, tmp_path):
    with pytest.raises(AnalyticsError, match=r"unknown video nope: title_daily has no row for it \(3 titles"):
        dropoff_data("nope", lake)
    with pytest.raises(AnalyticsError, match=rf"video {VIDEO_B} has no views in the last 1 days .*latest day is "):
        dropoff_data(VIDEO_B, lake, days=1, today=TODAY)
    empty = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path / "empty")})
    with pytest.raises(AnalyticsError, match=r"title_daily has not been written yet.*vodflow up"):
        dropoff_data(VIDEO_A, empty)


def test_cli_report_dropoff(cli, tmp_path, monkeypatch):
    out = tmp_path / "chart.png"
    r = cli("report", "dropoff", VIDEO_A, "--out", str(out), "--days", "7")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    assert "20 views, completion rate 30.0 %" in r.stderr
    assert png_size(out) == (1000, 560)

    monkeypatch.chdir(tmp_path)                                 # default path: ./dropoff_<id>.png
    r = cli("report", "dropoff", VIDEO_C)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"dropoff_{VIDEO_C}.png" and png_size(tmp_path / f"dropoff_{VIDEO_C}.png")


def test_cli_report_errors(cli):
    r = cli("report", "dropoff", "00000000-0000-0000-0000-000000000000")
    assert r.exit_code == 1 and "error: unknown video 00000000-0000-0000-0000-000000000000" in r.stderr
    assert "Traceback" not in r.output
    r = cli("report", "dropoff", VIDEO_B, "--days", "1")
    assert r.exit_code == 1 and "no views in the last 1 days" in r.stderr


def test_chart_is_headed_by_the_title_name(lake):
    a = dropoff_data(VIDEO_A, lake)
    assert a.title == TITLE_NAMES[VIDEO_A] == "Big Buck Bunny" and a.heading == "Drop-off: Big Buck Bunny"
    c = dropoff_data(VIDEO_C, lake)                              # not in vodflow.titles: headed by its id
    assert c.title is None and c.heading == f"Drop-off: {VIDEO_C}"


def test_a_title_can_be_named_instead_of_its_id(lake, tmp_path):
    by_name = dropoff_data("big buck BUNNY", lake)
    assert (by_name.video_id, by_name.views, by_name.title) == (VIDEO_A, 40, "Big Buck Bunny")
    with pytest.raises(AnalyticsError, match="unknown video Nope"):
        dropoff_data("Nope", lake)
    own = build_lake(tmp_path / "lake")                          # a private lake: C gets B's name too
    _write(tmp_path / "lake", "titles", [dict(video_id=VIDEO_C, title="Bikes", status="ready")], mode="append")
    with pytest.raises(AnalyticsError, match=rf"2 titles are named 'Bikes': .*{VIDEO_B} \(Bikes\).*video id instead"):
        dropoff_data("Bikes", own)


def test_cli_report_prints_the_name(cli, tmp_path):
    r = cli("report", "dropoff", "Big Buck Bunny", "--out", str(tmp_path / "a.png"))
    assert r.exit_code == 0, r.output
    assert "Big Buck Bunny: 40 views" in r.stderr and png_size(tmp_path / "a.png") == (1000, 560)


def test_demo_prints_the_named_chart(lake, tmp_path):
    """`make demo` ends step 6 with the demo title's drop-off chart, headed by its name."""
    from rich.console import Console

    from vodflow.demo import chart_dropoff

    s = load({**os.environ, "VODFLOW_LAKE_URI": lake.lake_uri, "VODFLOW_HOME": str(tmp_path)})
    console = Console(record=True, width=200)
    chart_dropoff(s, console, VIDEO_A)
    out = console.export_text()
    assert "Drop-off: Big Buck Bunny: 40 views, completion rate 40.0 %" in out
    assert png_size(tmp_path / "demo" / f"dropoff_{VIDEO_A}.png") == (1000, 560)
    chart_dropoff(s, console, "nope")
    assert "no drop-off chart: unknown video nope" in console.export_text()
