"""`vodflow sql` / `vodflow tables` over Delta tables written with delta-rs: no JVM, no service.

The lake of ``lakekit`` has hand-computed answers; the example queries of docs/analytics.md are run
as written and must return them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from lakekit import (A_ENDED, A_STILL_WATCHING, COMPLETION_30_DAYS, NEWEST_EVENT, QUALITY_BY_DEVICE, TOP_7_DAYS,
                     VIDEO_A, build_lake, require_reader_feature)

from vodflow.analytics.query import (AnalyticsError, QueryError, UnknownTableError, arrow_schema, arrow_type,
                                     connect, referenced_tables, run_sql, storage_options, table_info,
                                     tables_markdown)
from vodflow.analytics.tables import TABLES
from vodflow.settings import REPO_ROOT, load

DOCS = REPO_ROOT / "docs" / "analytics.md"
WRITTEN = ["events", "playback_quality", "quarantine", "sessions", "title_daily", "titles"]


def doc_queries() -> dict[str, str]:
    """The ```sql blocks of docs/analytics.md, keyed by their first comment line."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), re.S)
    return {b.splitlines()[0].removeprefix("--").strip(): b for b in blocks}


# -- schemas and settings -----------------------------------------------------------------------------

def test_arrow_types_of_every_table_column():
    assert arrow_type("TIMESTAMP") == pa.timestamp("us", tz="UTC")
    assert arrow_type("ARRAY<BIGINT>") == pa.list_(pa.int64())
    assert arrow_type("int") == pa.int32() and arrow_type("DATE") == pa.date32()
    for t in TABLES.values():
        assert arrow_schema(t).names == t.column_names
    assert arrow_type("MAP<STRING, DOUBLE>") == pa.map_(pa.string(), pa.float64())
    with pytest.raises(ValueError, match="STRUCT"):
        arrow_type("STRUCT<a: INT>")


def test_storage_options_local_and_s3():
    assert storage_options(load({"VODFLOW_LAKE_URI": "/data/lake"})) is None
    opts = storage_options(load({"VODFLOW_LAKE_URI": "s3a://lake-bucket/prod", "VODFLOW_S3_ENDPOINT": "http://minio:9000",
                                 "VODFLOW_S3_ACCESS_KEY": "ak", "VODFLOW_S3_SECRET_KEY": "sk",
                                 "VODFLOW_S3_REGION": "eu-west-3"}))
    assert opts == {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_REGION": "eu-west-3",
                    "AWS_DEFAULT_REGION": "eu-west-3", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
                    "AWS_ENDPOINT_URL": "http://minio:9000", "AWS_ENDPOINT_URL_S3": "http://minio:9000",
                    "AWS_ALLOW_HTTP": "true"}
    aws = storage_options(load({"VODFLOW_LAKE_URI": "s3a://b/p", "VODFLOW_S3_ENDPOINT": ""}))
    assert "AWS_ENDPOINT_URL" not in aws and "AWS_ALLOW_HTTP" not in aws


def test_referenced_tables():
    assert referenced_tables("SELECT * FROM vodflow.title_daily JOIN events USING (video_id)") == ["events",
                                                                                                  "title_daily"]
    assert referenced_tables("SHOW TABLES") == list(TABLES)


# -- connection ------------------------------------------------------------------------------------------

def test_connect_registers_existing_tables_under_both_names(lake):
    con = connect(lake)
    try:
        assert sorted(r[0] for r in con.sql("SHOW TABLES").fetchall()) == WRITTEN
        assert con.execute("SELECT count(*) FROM title_daily").fetchone()[0] == 6
        assert con.execute("SELECT count(*) FROM vodflow.title_daily").fetchone()[0] == 6
        assert con.execute("SELECT count(*) FROM vodflow.sessions").fetchone()[0] == 4   # two commits
        assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
    finally:
        con.close()


def test_filters_push_down_into_the_delta_scan(lake):
    con = connect(lake, ["events"])
    try:
        plan = "\n".join(r[1] for r in con.sql("EXPLAIN SELECT event_id FROM vodflow.events "
                                                "WHERE type = 'startup'").fetchall())
    finally:
        con.close()
    scan = plan[plan.index("ARROW_SCAN"):]
    assert "Filters:" in scan and "startup" in scan, plan


def test_run_sql_returns_arrow_with_plain_integers(lake):
    t = run_sql("SELECT video_id, sum(views) AS views FROM title_daily GROUP BY 1 ORDER BY 1", lake)
    assert t.schema.field("views").type == pa.int64()           # DuckDB HUGEINT sum, narrowed
    assert t.column("views").to_pylist() == [40, 105, 4]
    assert run_sql("SELECT * FROM vodflow.events", lake, limit=3).num_rows == 3
    assert run_sql("SELECT count(*) AS n FROM events WHERE type = $t", lake, params={"t": "startup"}) \
        .column("n").to_pylist() == [7]


# -- the example queries of docs/analytics.md, with hand-computed answers ------------------------------------

def test_docs_have_the_example_queries():
    assert set(doc_queries()) >= {"top titles by watch time", "completion rate per title", "drop-off curve of one title",
                                  "playback quality by device", "quarantine reasons", "freshness", "titles by name",
                                  "drop-off curve of one title (Spark SQL)", "playback quality by device (Spark SQL)"}


def test_doc_top_titles_by_watch_time(lake):
    rows = run_sql(doc_queries()["top titles by watch time"], lake).to_pylist()
    assert [(r["video_id"], r["title"], r["views"], r["watch_hours"]) for r in rows] == TOP_7_DAYS


def test_doc_completion_rate_per_title(lake):
    rows = run_sql(doc_queries()["completion rate per title"], lake).to_pylist()
    assert [(r["video_id"], r["title"], r["views"], r["completions"]) for r in rows] == \
        [x[:4] for x in COMPLETION_30_DAYS]
    assert [r["completion_rate"] for r in rows] == pytest.approx([x[4] for x in COMPLETION_30_DAYS], abs=1e-4)


def test_doc_dropoff_curve_of_one_title(lake):
    q = doc_queries()["drop-off curve of one title"]
    assert VIDEO_A in q
    rows = run_sql(q, lake).to_pylist()
    assert [(r["from_pct"], r["to_pct"]) for r in rows] == [(5 * k, 5 * k + 5) for k in range(20)]
    by_bucket = {k + 1: r for k, r in enumerate(rows)}
    assert {b: r["ended"] for b, r in by_bucket.items() if r["ended"]} == A_ENDED
    for b, share in A_STILL_WATCHING.items():
        assert by_bucket[b]["still_watching"] == pytest.approx(share), b


def test_doc_playback_quality_by_device(lake):
    rows = run_sql(doc_queries()["playback quality by device"], lake).to_pylist()
    got = {r["device"]: (r["rebuffers"], r["rebuffer_ratio"], r["startups"], r["startup_p50_ms"], r["startup_p95_ms"])
           for r in rows}
    assert set(got) == set(QUALITY_BY_DEVICE)
    for device, expected in QUALITY_BY_DEVICE.items():
        assert got[device] == pytest.approx(expected, abs=1e-6), device


def test_doc_quarantine_reasons(lake):
    rows = run_sql(doc_queries()["quarantine reasons"], lake).to_pylist()
    assert [(r["kind"], r["reason"], r["records"]) for r in rows] == [
        ("invalid", "position_s: must be >= 0", 3), ("late", "beyond the watermark", 2), ("malformed", "not JSON", 1)]


def test_doc_titles_by_name(lake):
    rows = run_sql(doc_queries()["titles by name"], lake).to_pylist()
    assert [(r["video_id"], r["title"], r["status"]) for r in rows] == [(VIDEO_A, "Big Buck Bunny", "ready")]


def test_doc_freshness(lake):
    t0 = datetime.now(timezone.utc)
    (row,) = run_sql(doc_queries()["freshness"], lake).to_pylist()
    t1 = datetime.now(timezone.utc)
    assert row["newest_event"] == NEWEST_EVENT
    assert row["newest_received"] - row["newest_event"] == timedelta(seconds=1)
    lag = row["lag"]                                             # DuckDB INTERVAL -> Arrow MonthDayNano
    lag_s = lag.days * 86400 + lag.nanoseconds / 1e9
    assert (t0 - NEWEST_EVENT).total_seconds() - 1e-3 <= lag_s <= (t1 - NEWEST_EVENT).total_seconds() + 1e-3


# -- errors ------------------------------------------------------------------------------------------------

def test_table_not_written_yet_names_the_existing_ones(lake):
    with pytest.raises(UnknownTableError) as e:
        run_sql("SELECT * FROM vodflow.user_title", lake)
    msg = str(e.value)
    assert "user_title has not been written yet" in msg and "vodflow up" in msg and "streaming job" in msg
    assert "Existing tables: events, playback_quality, quarantine, sessions, title_daily, titles." in msg


def test_unknown_table(lake):
    for sql in ("SELECT * FROM title_monthly", "SELECT * FROM vodflow.title_monthly"):
        with pytest.raises(UnknownTableError) as e:
            run_sql(sql, lake)
        msg = str(e.value)
        assert msg.startswith("unknown table title_monthly. Existing tables: events, playback_quality, quarantine")
        assert "Not written yet: bronze_events, title_hourly, user_title" in msg
        assert "pg_" not in msg                                   # no DuckDB catalog suggestions


def test_sql_errors_are_explained(lake):
    with pytest.raises(QueryError, match=r"(?s)Parser Error: syntax error.*tables: events, playback_quality"):
        run_sql("SELEC 1", lake)
    with pytest.raises(QueryError, match=r"(?s)Referenced column \"nope\" not found.*DESCRIBE"):
        run_sql("SELECT nope FROM title_daily", lake)
    with pytest.raises(QueryError, match="empty query"):
        run_sql("  ", lake)


def test_empty_lake_says_tables_come_from_the_streaming_job(tmp_path):
    s = load({**os.environ, "VODFLOW_LAKE_URI": str(tmp_path / "nothing")})
    with pytest.raises(UnknownTableError, match=r"title_daily has not been written yet.*Existing tables: none yet"):
        run_sql("SELECT * FROM title_daily", s)
    with pytest.raises(QueryError, match=r"none yet under .*vodflow up"):
        run_sql("SELECT * FROM", s)
    assert run_sql("SELECT 42 AS x", s).to_pylist() == [{"x": 42}]
    assert not any(i.exists for i in table_info(s))


def test_unreachable_object_store_is_a_clear_error(monkeypatch):
    """Also: the endpoint of the settings wins over AWS_ENDPOINT_URL_S3 in the environment (the test
    environment has the local stack's, which delta-rs would otherwise prefer)."""
    from vodflow.analytics import query

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")

    s = load({**os.environ, "VODFLOW_LAKE_URI": "s3a://vodflow-lake/test", "VODFLOW_S3_ENDPOINT": "http://127.0.0.1:9"})
    opts = storage_options(s)
    monkeypatch.setattr(query, "storage_options", lambda _s: {**opts, "max_retries": "0"})   # fail fast
    with pytest.raises(AnalyticsError, match=r"cannot read the lake at s3a://vodflow-lake/test .*: "
                                             r"Generic S3 error: .*Connection refused"):
        run_sql("SELECT * FROM title_daily", s)


# -- table information and tables delta-rs' PyArrow scan refuses ------------------------------------------------

def test_table_info(lake):
    info = {i.name: i for i in table_info(lake)}
    assert list(info) == list(TABLES)
    assert {n for n, i in info.items() if i.exists} == set(WRITTEN)
    assert (info["sessions"].rows, info["sessions"].version) == (4, 1)
    assert (info["title_daily"].rows, info["title_daily"].version) == (6, 0)
    assert info["events"].rows == 9 and info["quarantine"].rows == 6
    age = datetime.now(timezone.utc) - info["title_daily"].last_modified
    assert timedelta(0) <= age < timedelta(minutes=10)
    assert info["user_title"].rows is None and info["user_title"].location.endswith("/gold/user_title")


def test_deletion_vector_tables_are_read_through_delta_rs(tmp_path):
    s = build_lake(tmp_path / "lake")
    require_reader_feature(Path(TABLES["sessions"].location(s)))
    assert run_sql("SELECT count(*) AS n, sum(played_s) AS p FROM vodflow.sessions", s).to_pylist() == \
        [{"n": 4, "p": 300.0}]
    info = {i.name: i for i in table_info(s)}["sessions"]
    assert (info.rows, info.version, info.error) == (4, 2, None)


# -- CLI ---------------------------------------------------------------------------------------------------------

def test_cli_sql_table(cli):
    r = cli("sql", "SELECT video_id, sum(views) AS views FROM vodflow.title_daily GROUP BY 1 ORDER BY 2 DESC")
    assert r.exit_code == 0, r.output
    assert re.search(r"b0b0b0b0-0000-4000-8000-00000000000b\s*│\s*105", r.stdout), r.stdout
    assert "3 rows" in r.stderr


def test_cli_sql_csv_json_and_limit(cli):
    q = "SELECT video_id, date, dropoff FROM title_daily WHERE video_id = '{}' ORDER BY date".format(VIDEO_A)
    r = cli("sql", q, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and json.loads(rows[-1]["dropoff"])[:5] == [2, 0, 0, 0, 1]
    r = cli("sql", q, "--format", "json", "--limit", "2")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data) == 2 and data[0]["video_id"] == VIDEO_A and len(data[0]["dropoff"]) == 20
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", data[0]["date"])
    assert "limited to 2 rows" in r.stderr
    r = cli("sql", "-", "--format", "json", input="SELECT max(client_ts) AS t FROM events")
    assert json.loads(r.stdout)[0]["t"].endswith("+00:00")
    assert cli("sql", "SELECT 1", "--format", "xml").exit_code != 0


def test_cli_sql_errors_are_one_clean_message(cli):
    r = cli("sql", "SELECT * FROM vodflow.user_title")
    assert r.exit_code == 1
    assert "error:" in r.stderr and "user_title has not been written yet" in r.stderr and "vodflow up" in r.stderr
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)    # typer.Exit(1), nothing else
    r = cli("sql", "SELECT FROM WHERE")
    assert r.exit_code == 1 and "Parser Error" in r.stderr and "Traceback" not in r.output


def test_cli_tables(cli):
    r = cli("tables")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert re.search(r"vodflow\.sessions\s*│\s*4\s*│\s*1\s*│", out), out
    assert re.search(r"vodflow\.user_title\s*│\s*-\s*│\s*-\s*│\s*not written yet", out), out
    r = cli("tables", "--markdown")
    assert r.exit_code == 0 and r.stdout == tables_markdown()
