"""The catalog on a temporary SQLite and PostgreSQL database: migrations, transitions, reruns, atomic rendition replacement."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from vodflow.catalog import (Catalog, IllegalTransition, InvalidCatalogData, RenditionInfo, VideoNotFound,
                             VideoStatus, db)
from vodflow.catalog import repository
from tests.pgkit import postgres  # noqa: F401  (session fixture: a throwaway PostgreSQL)

RUNG = dict(name="720p", width=1280, height=720, fps=29.97, codecs="avc1.64001f,mp4a.40.2", bandwidth=3_200_000,
            average_bandwidth=2_500_000, measured_avg_bitrate=2_300_000, measured_peak_bitrate=3_000_000,
            playlist_key="videos/x/hls/720p/playlist.m3u8")
MANIFESTS = {"hls": "videos/x/hls/master.m3u8", "dash": "videos/x/dash/manifest.mpd"}
THUMBS = {"posters": {"1280x720": "videos/x/poster_1280.jpg"},
          "storyboard": {"sprite": "videos/x/sb.jpg", "vtt": "videos/x/sb.vtt"}}
PROPS = {"container": "mov,mp4", "video_codec": "h264", "duration": 12.5, "width": 1920, "height": 1080,
         "fps": 29.97, "rotation": 0, "sar": "1/1", "has_audio": True, "bit_depth": 8}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """Every catalog test on both databases the settings name: SQLite (embedded) and PostgreSQL (the
    cluster profile and docker/compose.yaml), each a new empty database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path / 'nested' / 'dir' / 'catalog.db'}"


@pytest.fixture
def cat(url) -> Catalog:
    return Catalog(url)


def rung(name: str, height: int, **kw) -> dict:
    return {**RUNG, "name": name, "height": height, "width": height * 16 // 9 // 2 * 2, **kw}


def processing(cat: Catalog, run_id: str = "run-1") -> str:
    v = cat.create_video("A title", "masters/x/original.mp4")
    cat.start_processing(v.id, run_id)
    return v.id


# ----------------------------------------------------------------------------- migrations
def test_migrations_upgrade_an_empty_database(url, tmp_path):
    sqlite = url.startswith("sqlite")
    db.upgrade(url)  # creates the parent directories too
    assert (tmp_path / "nested" / "dir" / "catalog.db").exists() or not sqlite
    assert db.current_revision(url) == "0003"
    eng = db.get_engine(url)
    insp = sa.inspect(eng)
    assert {"videos", "renditions", "users", "content_keys", db.VERSION_TABLE} <= set(insp.get_table_names())
    assert {c["name"] for c in insp.get_columns("videos")} >= {
        "id", "title", "status", "error", "source_key", "source_props", "hls_master_key", "dash_mpd_key",
        "thumbnails", "regions", "created_at", "updated_at", "ready_at", "ingest_attempts", "last_run_id"}
    if not sqlite:
        with eng.connect() as c:  # JSON columns are JSONB, status a CHECK constraint (portable, no enum type)
            assert c.exec_driver_sql("SELECT data_type FROM information_schema.columns WHERE table_name = 'videos' "
                                     "AND column_name = 'source_props'").scalar() == "jsonb"
    else:
        with eng.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    # the models agree with the migrated schema
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from vodflow.catalog.models import Base

    with eng.connect() as c:
        mc = MigrationContext.configure(c, opts={"version_table": db.VERSION_TABLE, "compare_type": True})
        assert compare_metadata(mc, Base.metadata) == []

    # upgrading again is a no-op; down to nothing and back up works
    db.upgrade(url)
    db.downgrade(url, "base")
    assert set(sa.inspect(eng).get_table_names()) == {db.VERSION_TABLE}
    db.upgrade(url)
    assert db.current_revision(url) == "0003"


def test_migrations_render_portable_postgres_sql(capsys):
    db.upgrade("postgresql://user:pw@db.example/vodflow", sql=True)
    ddl = capsys.readouterr().out
    assert "CREATE TABLE videos" in ddl and "CREATE TABLE renditions" in ddl
    assert "JSONB" in ddl and "CREATE TYPE" not in ddl  # status is VARCHAR + CHECK, no native enum
    assert "CONSTRAINT ck_videos_video_status CHECK" in ddl
    assert "ON DELETE CASCADE" in ddl


def test_cascade_and_check_constraints_are_enforced(cat, url):
    vid = processing(cat)
    cat.mark_ready(vid, [RUNG], MANIFESTS)
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction(url) as s:
            s.execute(sa.text("UPDATE videos SET status='bogus' WHERE id=:i"), {"i": vid})
    with db.transaction(url) as s:
        s.execute(sa.text("DELETE FROM videos WHERE id=:i"), {"i": vid})
    with db.transaction(url, write=False) as s:
        assert s.execute(sa.text("SELECT count(*) FROM renditions")).scalar() == 0


# ----------------------------------------------------------------------------- lifecycle
def test_full_lifecycle(cat):
    v = cat.create_video("  My film ", "masters/x/original.mp4", regions="us, CA ,us")
    assert v.status is VideoStatus.UPLOADED and v.title == "My film" and v.regions == ["US", "CA"]
    assert v.ingest_attempts == 0 and v.created_at.tzinfo is not None
    w = cat.create_video("Worldwide", "masters/y/original.mkv")
    assert w.regions == [] and w.worldwide

    p = cat.start_processing(v.id, "manual__2025-01-01")
    assert p.status is VideoStatus.PROCESSING and p.ingest_attempts == 1 and p.last_run_id == "manual__2025-01-01"
    r = cat.mark_ready(v.id, [rung("1080p", 1080), RenditionInfo(**rung("360p", 360)), rung("720p", 720)],
                       MANIFESTS, THUMBS, PROPS, run_id="manual__2025-01-01")
    assert r.status is VideoStatus.READY and r.ready_at is not None and r.error is None
    got = cat.get_video(v.id)
    assert [x.name for x in got.renditions] == ["1080p", "720p", "360p"]
    assert got.renditions[1] == RenditionInfo(**rung("720p", 720))
    assert got.hls_master_key == MANIFESTS["hls"] and got.dash_mpd_key == MANIFESTS["dash"]
    assert got.thumbnails == THUMBS and got.source_props == PROPS
    d = got.to_dict()
    assert d["status"] == "ready" and d["manifests"] == MANIFESTS and len(d["renditions"]) == 3

    assert [x.id for x in cat.list_videos()] == [w.id, v.id]  # newest first
    assert [x.id for x in cat.list_videos("ready")] == [v.id]
    assert [x.id for x in cat.list_videos(VideoStatus.UPLOADED)] == [w.id]
    with pytest.raises(InvalidCatalogData, match="unknown status"):
        cat.list_videos("done")


def test_failure_then_rerun(cat):
    vid = processing(cat, "run-1")
    f = cat.mark_failed(vid, "ffprobe: moov atom not found")
    assert f.status is VideoStatus.FAILED and f.error == "ffprobe: moov atom not found"
    again = cat.mark_failed(vid, "on_failure_callback: task encode failed")  # idempotent, reason updated
    assert again.status is VideoStatus.FAILED and again.error.startswith("on_failure_callback")
    p = cat.start_processing(vid, "run-2")
    assert p.status is VideoStatus.PROCESSING and p.error is None and p.ingest_attempts == 2
    assert cat.mark_ready(vid, [RUNG], {"hls": "k"}).status is VideoStatus.READY


def test_rerun_of_a_ready_video_replaces_renditions(cat):
    vid = processing(cat, "run-1")
    cat.mark_ready(vid, [rung("1080p", 1080), rung("720p", 720)], MANIFESTS, THUMBS, PROPS)
    p = cat.start_processing(vid, "run-2")  # ready -> processing (rerun)
    assert p.ingest_attempts == 2
    assert [r.name for r in cat.get_video(vid).renditions] == ["1080p", "720p"]  # kept until replaced
    cat.mark_ready(vid, [rung("720p", 720, bandwidth=2_000_000), rung("480p", 480)], {"dash": "new.mpd"})
    got = cat.get_video(vid)
    assert [(r.name, r.bandwidth) for r in got.renditions] == [("720p", 2_000_000), ("480p", RUNG["bandwidth"])]
    assert got.dash_mpd_key == "new.mpd" and got.hls_master_key is None
    assert got.source_props == PROPS  # not passed this time: kept


def test_rendition_replacement_is_atomic(cat, monkeypatch):
    """A failure inside the transaction (after the old rows were deleted) leaves everything as it was."""
    vid = processing(cat, "run-1")
    cat.mark_ready(vid, [rung("1080p", 1080), rung("720p", 720)], MANIFESTS)
    cat.start_processing(vid, "run-2")
    monkeypatch.setattr(RenditionInfo, "validate", lambda self: None)  # let the database refuse it
    with pytest.raises(sa.exc.IntegrityError):
        cat.mark_ready(vid, [rung("480p", 480), rung("360p", 360, width=None)], {"hls": "other.m3u8"})
    got = cat.get_video(vid)
    assert got.status is VideoStatus.PROCESSING and got.hls_master_key == MANIFESTS["hls"]
    assert [r.name for r in got.renditions] == ["1080p", "720p"]


# ----------------------------------------------------------------------------- refusals
def test_illegal_transitions_raise_clear_errors(cat):
    v = cat.create_video("t", "masters/x/original.mp4")
    with pytest.raises(IllegalTransition, match=r"cannot mark ready video .*: it is 'uploaded'; "
                                                r"mark ready needs status 'processing'"):
        cat.mark_ready(v.id, [RUNG], MANIFESTS)
    with pytest.raises(IllegalTransition, match="requeue needs status 'failed'"):
        cat.requeue(v.id)
    cat.start_processing(v.id, "run-1")
    with pytest.raises(IllegalTransition, match="run 'run-1' is processing it; pass force=True"):
        cat.start_processing(v.id, "run-2")
    cat.mark_ready(v.id, [RUNG], MANIFESTS)
    with pytest.raises(IllegalTransition, match="it is 'ready'"):
        cat.mark_failed(v.id, "late failure")
    with pytest.raises(IllegalTransition, match="it is 'ready'"):
        cat.mark_ready(v.id, [RUNG], MANIFESTS)
    assert cat.get_video(v.id).status is VideoStatus.READY  # nothing changed


def test_same_run_is_idempotent_and_force_takes_over(cat):
    vid = processing(cat, "run-1")
    assert cat.start_processing(vid, "run-1").ingest_attempts == 1  # Airflow task retry: no new attempt
    taken = cat.start_processing(vid, "run-2", force=True)
    assert taken.last_run_id == "run-2" and taken.ingest_attempts == 2
    with pytest.raises(IllegalTransition, match="run 'run-1' is stale"):
        cat.mark_ready(vid, [RUNG], MANIFESTS, run_id="run-1")
    with pytest.raises(IllegalTransition, match="stale"):
        cat.mark_failed(vid, "x", run_id="run-1")
    assert cat.mark_ready(vid, [RUNG], MANIFESTS, run_id="run-2").status is VideoStatus.READY


def test_requeue_after_failure(cat):
    v = cat.create_video("t", "masters/x/original.mp4")
    cat.mark_failed(v.id, "Kafka is unavailable")  # the API could not publish the request
    r = cat.requeue(v.id)
    assert r.status is VideoStatus.UPLOADED and r.error is None


def test_bad_arguments(cat):
    with pytest.raises(InvalidCatalogData, match="title"):
        cat.create_video("  ", "k")
    with pytest.raises(InvalidCatalogData, match="'USA' is not an ISO 3166-1 alpha-2"):
        cat.create_video("t", "k", regions=["US", "USA"])
    with pytest.raises(VideoNotFound):
        cat.start_processing(str(uuid.uuid4()), "r")
    with pytest.raises(VideoNotFound):
        cat.get_video("../../etc/passwd")
    vid = processing(cat)
    with pytest.raises(InvalidCatalogData, match="at least one rendition"):
        cat.mark_ready(vid, [], MANIFESTS)
    with pytest.raises(InvalidCatalogData, match="unique"):
        cat.mark_ready(vid, [RUNG, RUNG], MANIFESTS)
    with pytest.raises(InvalidCatalogData, match=r"unknown fields \['bitrate'\]"):
        cat.mark_ready(vid, [{**RUNG, "bitrate": 1}], MANIFESTS)
    with pytest.raises(InvalidCatalogData, match="width must be a positive integer"):
        cat.mark_ready(vid, [{**RUNG, "width": 0}], MANIFESTS)
    with pytest.raises(InvalidCatalogData, match="HLS master or a DASH MPD"):
        cat.mark_ready(vid, [RUNG], {})
    with pytest.raises(InvalidCatalogData, match="unknown manifest kinds"):
        cat.mark_ready(vid, [RUNG], {"smooth": "x"})
    with pytest.raises(InvalidCatalogData, match="not JSON-serializable"):
        cat.mark_ready(vid, [RUNG], MANIFESTS, source_props={"fps": object()})
    with pytest.raises(InvalidCatalogData, match="needs a reason"):
        cat.mark_failed(vid, " ")
    long = cat.mark_failed(vid, "x" * 10_000)
    assert len(long.error) <= repository.MAX_ERROR and long.error.endswith("(truncated)")


def test_concurrent_starts_have_one_winner(cat):
    """Eight runs race for one uploaded video: exactly one gets it, the others are refused."""
    v = cat.create_video("race", "masters/x/original.mp4")
    results: list[str] = []
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        try:
            cat.start_processing(v.id, f"run-{i}")
            results.append("won")
        except IllegalTransition:
            results.append("refused")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["refused"] * 7 + ["won"]
    assert cat.get_video(v.id).ingest_attempts == 1


def test_module_functions_use_the_settings_url(url, monkeypatch):
    from vodflow import catalog
    from vodflow.settings import get_settings

    monkeypatch.setenv("VODFLOW_CATALOG_DB_URL", url)
    get_settings.cache_clear()
    try:
        v = catalog.create_video("t", "masters/x/original.mp4", ["FR"])
        catalog.start_processing(v.id, "r1")
        catalog.mark_ready(v.id, [RUNG], MANIFESTS, THUMBS, PROPS)
        assert catalog.get_video(v.id, db_url=url).status is VideoStatus.READY
        assert [x.id for x in catalog.list_videos("ready")] == [v.id]
    finally:
        get_settings.cache_clear()
