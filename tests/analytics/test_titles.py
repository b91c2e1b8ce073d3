"""The titles dimension (``vodflow.titles``) over a real SQLite catalog and a local Delta lake (delta-rs,
no JVM, no service): written on publish, synced with the catalog idempotently, queryable by name."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))   # catalogkit
from catalogkit import REASON, add_ready  # noqa: E402

from vodflow.analytics import titles  # noqa: E402
from vodflow.analytics.query import run_sql  # noqa: E402
from vodflow.analytics.tables import TITLES  # noqa: E402
from vodflow.settings import load  # noqa: E402


@pytest.fixture
def env(tmp_path):
    from vodflow.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    s = load({**os.environ, "VODFLOW_CATALOG_DB_URL": url, "VODFLOW_LAKE_URI": str(tmp_path / "lake")})
    return s, Catalog(url)


def version(s) -> int:
    from deltalake import DeltaTable

    return DeltaTable(TITLES.location(s)).version()


def test_record_writes_the_published_title_once(env):
    s, cat = env
    vid = add_ready(cat, "Big Buck Bunny", 10.0, rungs=("360p", "720p"))
    res = titles.record(vid, s)
    assert (res.written, res.deleted, res.titles) == (1, 0, 1)
    row = titles.read(s)[vid]
    assert row["title"] == "Big Buck Bunny" and row["status"] == "ready" and row["duration_s"] == 10.0
    assert (row["renditions"], row["top_height"], row["regions"]) == (2, 720, [])
    assert row["ready_at"] is not None and row["catalog_updated_at"] == cat.get_video(vid).updated_at
    v = version(s)
    again = titles.record(vid, s)                      # an Airflow retry: nothing to write, no new commit
    assert (again.written, again.titles, again.version) == (0, 1, v) and version(s) == v


def test_sync_follows_the_catalog_new_changed_deleted(env):
    s, cat = env
    ready = add_ready(cat, "Bikes", 7.5)
    bad = cat.create_video("Not a video", "masters/x/original.mp4")
    waiting = cat.create_video("Waiting", "masters/y/original.mp4", regions="FR,DE")
    first = titles.sync(s)
    assert (first.written, first.deleted, first.titles) == (3, 0, 3)
    rows = titles.read(s)
    assert {rows[i]["status"] for i in (ready, bad.id, waiting.id)} == {"ready", "uploaded"}
    assert sorted(rows[waiting.id]["regions"]) == ["DE", "FR"] and rows[waiting.id]["duration_s"] is None

    v = version(s)
    assert titles.sync(s).written == 0 and version(s) == v           # idempotent: no commit

    cat.mark_failed(bad.id, REASON)
    cat.delete_video(waiting.id)
    second = titles.sync(s)
    assert (second.written, second.deleted, second.titles) == (1, 1, 3)
    rows = titles.read(s)
    assert rows[bad.id]["status"] == "failed" and rows[bad.id]["error"] == REASON
    assert rows[waiting.id]["status"] == "deleted" and rows[waiting.id]["title"] == "Waiting"   # keeps its name
    assert rows[ready]["status"] == "ready"
    v = version(s)
    assert titles.sync(s).written == 0 and version(s) == v


def test_an_empty_catalog_never_deletes_every_title(env, tmp_path):
    s, cat = env
    add_ready(cat, "Tears of Steel", 12.0)
    titles.sync(s)
    wrong = load({**os.environ, "VODFLOW_CATALOG_DB_URL": f"sqlite:///{tmp_path / 'other.db'}",
                  "VODFLOW_LAKE_URI": s.lake_uri})
    with pytest.raises(titles.EmptyCatalog, match=r"has no titles but vodflow.titles names 1: .*VODFLOW_CATALOG_DB_URL"):
        titles.sync(wrong)
    assert [r["status"] for r in titles.read(s).values()] == ["ready"]


def test_concurrent_writers_both_land(env):
    """Two ingests finishing together: one MERGE loses the commit race, re-reads and retries."""
    s, cat = env
    ids = [add_ready(cat, f"Title {i}", 5.0 + i) for i in range(3)]
    titles.record(ids[0], s)                                         # the table exists
    errors: list[BaseException] = []

    def run(vid):
        try:
            titles.record(vid, s)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(v,)) for v in ids[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {r["title"] for r in titles.read(s).values()} == {"Title 0", "Title 1", "Title 2"}


def test_changed_rows_pure():
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    a = {"video_id": "a", "title": "A", "status": "ready", "synced_at": now}
    b = {"video_id": "b", "title": "B", "status": "ready", "synced_at": now}
    current = {"a": a, "b": b, "c": {"video_id": "c", "title": "C", "status": "deleted"}}
    later = datetime(2026, 12, 6, tzinfo=timezone.utc)
    assert titles.changed_rows(current, [{**a, "synced_at": later}], complete=False, now=later) == ([], 0)
    rows, gone = titles.changed_rows(current, [{**a, "title": "A2"}], complete=True, now=later)
    assert gone == 1 and [(r["video_id"], r["title"], r["status"]) for r in rows] == [("a", "A2", "ready"),
                                                                                      ("b", "B", "deleted")]


def test_vodflow_sql_joins_names(env):
    s, cat = env
    vid = add_ready(cat, "Sintel", 12.0)
    titles.sync(s)
    got = run_sql("SELECT t.title, t.duration_s FROM vodflow.titles t WHERE video_id = $v", s,
                  params={"v": vid}).to_pylist()
    assert got == [{"title": "Sintel", "duration_s": 12.0}]


def test_the_stream_and_delta_rs_share_the_table(spark, env):
    """The stream's ``tables.ensure`` may create dim/titles first (Spark): delta-rs MERGEs into it, and Spark
    reads (and compacts) what delta-rs wrote."""
    from vodflow.analytics import tables as T

    s, cat = env
    T.ensure(spark, s, [TITLES])
    vid = add_ready(cat, "Elephants Dream", 9.0)
    assert titles.record(vid, s).written == 1
    got = spark.read.format("delta").load(TITLES.location(s)).collect()
    assert [(r["video_id"], r["title"], r["status"]) for r in got] == [(vid, "Elephants Dream", "ready")]
    spark.sql(f"OPTIMIZE delta.`{TITLES.location(s)}` ZORDER BY (video_id)")
    assert titles.record(vid, s).written == 0 and titles.read(s)[vid]["duration_s"] == 9.0


def test_cli_sync_titles(env, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from vodflow.cli import app
    from vodflow.settings import get_settings

    s, cat = env
    add_ready(cat, "Cosmos Laundromat", 11.0)
    monkeypatch.setenv("VODFLOW_CATALOG_DB_URL", s.catalog_db_url)
    monkeypatch.setenv("VODFLOW_LAKE_URI", s.lake_uri)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["sync-titles"])
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith("vodflow.titles: 1 titles; wrote 1, marked 0 deleted")
        assert "wrote 0" in CliRunner().invoke(app, ["sync-titles"]).stdout
        (tmp_path / "a-file").write_text("")                         # a catalog that cannot be opened
        monkeypatch.setenv("VODFLOW_CATALOG_DB_URL", f"sqlite:///{tmp_path / 'a-file' / 'catalog.db'}")
        get_settings.cache_clear()
        bad = CliRunner().invoke(app, ["sync-titles"])
        assert bad.exit_code == 1 and "cannot sync vodflow.titles" in bad.output and "Traceback" not in bad.output
    finally:
        get_settings.cache_clear()


def test_missing_table_says_how_to_fill_it(env):
    from vodflow.analytics.query import UnknownTableError

    s, _ = env
    with pytest.raises(UnknownTableError, match=r"titles has not been written yet .*`vodflow sync-titles` fills it"):
        run_sql("SELECT * FROM vodflow.titles", s)
