"""POST /videos and friends against a real uvicorn server, real S3 (S3Proxy) and a real Kafka broker."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
import uuid
from pathlib import Path

import httpx
from apikit import free_port, serve, settings_with
from kafka import TopicPartition

from vodflow.api.app import create_app
from vodflow.api.ingest_request import IngestRequest
from vodflow.api.upload_cli import upload_file
from vodflow.catalog import get_catalog
from vodflow.clients import kafka_consumer

MiB = 1024 * 1024


# ----------------------------------------------------------------------------- helpers
def write_file(path: Path, size: int, seed: int = 0) -> str:
    """Pseudo-random file of ``size`` bytes, written in 1 MiB chunks; returns its sha256."""
    h = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    with open(path, "wb") as f:
        left, i = size, 0
        while left:
            chunk = (i.to_bytes(8, "big") + block)[: min(MiB, left)]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            i += 1
    return h.hexdigest()


def end_offsets(settings) -> dict[TopicPartition, int]:
    c = kafka_consumer(settings=settings)
    try:
        parts = [TopicPartition(settings.topic_ingest, p) for p in c.partitions_for_topic(settings.topic_ingest)]
        return c.end_offsets(parts)
    finally:
        c.close()


def ingest_messages(settings, since: dict[TopicPartition, int], video_id: str) -> list:
    """Records for ``video_id`` published after ``since`` (read by offset up to the current end, no group)."""
    end = end_offsets(settings)
    c = kafka_consumer(settings=settings, consumer_timeout_ms=10000)
    try:
        c.assign(list(since))
        for tp, off in since.items():
            c.seek(tp, off)
        out = []
        while any(c.position(tp) < end[tp] for tp in since):
            batch = c.poll(timeout_ms=2000)
            if not batch:
                break
            out += [r for recs in batch.values() for r in recs if r.key == video_id.encode()]
        return out
    finally:
        c.close()


def in_progress_uploads(s3, bucket: str, prefix: str = "masters/") -> set[str]:
    """Upload ids of unfinished multipart uploads under ``prefix``."""
    return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])}


def catalog_ids(url: str) -> set[str]:
    return {v.id for v in get_catalog(url).list_videos(limit=1000)}


def assert_no_dangling_rows(s3, settings) -> None:
    """Every 'uploaded' row points at an object that exists."""
    for v in get_catalog(settings.catalog_db_url).list_videos("uploaded", limit=1000):
        s3.head_object(Bucket=settings.bucket_masters, Key=v.source_key)


# ----------------------------------------------------------------------------- happy path
def test_upload_stores_master_row_and_ingest_request(admin, api_url, api_settings, s3, tmp_path):
    src = tmp_path / "Trailer.MP4"
    digest = write_file(src, 3 * MiB + 123)
    before = end_offsets(api_settings)
    with open(src, "rb") as f:  # a standard client (httpx's own multipart encoder)
        r = httpx.post(f"{api_url}/videos", headers=admin,
                       data={"title": "  Big Buck Bunny  ", "regions": "us, ca,US"},
                       files={"file": (src.name, f, "video/mp4")}, timeout=60)
    assert r.status_code == 201, r.text
    body = r.json()
    vid = body["video_id"]
    assert uuid.UUID(vid)
    assert body["status"] == "uploaded" and body["status_url"] == f"/videos/{vid}"
    assert r.headers["location"] == f"/videos/{vid}"

    key = f"masters/{vid}/original.mp4"
    head = s3.head_object(Bucket=api_settings.bucket_masters, Key=key)
    assert head["ContentLength"] == src.stat().st_size
    assert head["ContentType"] == "video/mp4"
    got = hashlib.sha256(s3.get_object(Bucket=api_settings.bucket_masters, Key=key)["Body"].read()).hexdigest()
    assert got == digest
    assert in_progress_uploads(s3, api_settings.bucket_masters, f"masters/{vid}/") == set()

    row = httpx.get(f"{api_url}{body['status_url']}", headers=admin).json()   # the operator's full row
    assert row["status"] == "uploaded" and row["title"] == "Big Buck Bunny"
    assert row["source_key"] == key and row["regions"] == ["US", "CA"]
    assert row["renditions"] == [] and row["ingest_attempts"] == 0

    recs = ingest_messages(api_settings, before, vid)
    assert len(recs) == 1
    msg = json.loads(recs[0].value)
    assert set(msg) == {"video_id", "source_key", "title", "requested_at"}
    assert msg["video_id"] == vid and msg["source_key"] == key and msg["title"] == "Big Buck Bunny"
    assert IngestRequest.from_kafka(recs[0].value).requested_at.tzinfo is not None
    assert dict(recs[0].headers)["schema"] == b"vodflow.ingest_request/1"


def test_large_upload_memory_is_bounded(admin, api_url, api_settings, s3, tmp_path):
    """40 MiB through client and server in this process: Python's peak allocation stays far below the size."""
    size = 40 * MiB + 5
    src = tmp_path / "master.mkv"
    digest = write_file(src, size, seed=1)
    tracemalloc.start()
    try:
        res = upload_file(src, "Large master", api_url, progress=False, token=admin["Authorization"][7:])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    vid = res["video_id"]
    key = f"masters/{vid}/original.mkv"
    head = s3.head_object(Bucket=api_settings.bucket_masters, Key=key)
    assert head["ContentLength"] == size and head["ContentType"] == "video/x-matroska"
    h = hashlib.sha256()
    for chunk in s3.get_object(Bucket=api_settings.bucket_masters, Key=key)["Body"].iter_chunks(MiB):
        h.update(chunk)
    assert h.hexdigest() == digest
    # two 8 MiB parts (one filling, one in flight) + buffers; the file itself never is in memory
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB upload"
    print(f"\n40 MiB upload: tracemalloc peak {peak / MiB:.1f} MiB")


# ----------------------------------------------------------------------------- refusals
def test_unsupported_extension_is_415(admin, api_url, api_settings, s3, tmp_path):
    before = catalog_ids(api_settings.catalog_db_url)
    mpus = in_progress_uploads(s3, api_settings.bucket_masters)
    r = httpx.post(f"{api_url}/videos", headers=admin, data={"title": "notes"},
                   files={"file": ("notes.txt", b"x" * 1000, "text/plain")})
    assert r.status_code == 415
    assert "'.txt'" in r.json()["detail"] and "mp4" in r.json()["detail"] and "mxf" in r.json()["detail"]
    r = httpx.post(f"{api_url}/videos", headers=admin, data={"title": "no ext"},
                   files={"file": ("README", b"x", "video/mp4")})
    assert r.status_code == 415 and "no extension" in r.json()["detail"]
    r = httpx.post(f"{api_url}/videos", headers=admin, json={"title": "not a form"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    assert catalog_ids(api_settings.catalog_db_url) == before
    assert in_progress_uploads(s3, api_settings.bucket_masters) <= mpus


def test_empty_file_is_400(admin, api_url, api_settings):
    before = catalog_ids(api_settings.catalog_db_url)
    r = httpx.post(f"{api_url}/videos", headers=admin, data={"title": "empty"},
                   files={"file": ("empty.mp4", b"", "video/mp4")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    assert catalog_ids(api_settings.catalog_db_url) == before


def test_bad_fields_are_422_and_store_nothing(admin, api_url, api_settings, s3):
    before = catalog_ids(api_settings.catalog_db_url)
    mpus = in_progress_uploads(s3, api_settings.bucket_masters)
    r = httpx.post(f"{api_url}/videos", headers=admin, files={"file": ("a.mp4", b"x" * 100, "video/mp4")})
    assert r.status_code == 422 and "title" in r.json()["detail"]
    r = httpx.post(f"{api_url}/videos", headers=admin, data={"title": "t", "regions": "US,Canada"},
                   files={"file": ("a.mp4", b"x" * 100, "video/mp4")})
    assert r.status_code == 422 and "'Canada'" in r.json()["detail"]
    assert catalog_ids(api_settings.catalog_db_url) == before
    assert in_progress_uploads(s3, api_settings.bucket_masters) <= mpus


def test_truncated_body_aborts_the_multipart_upload(admin, api_url, api_settings, s3):
    """A body that stops after 10 MiB of file data (one S3 part already sent): 400, parts aborted, no row."""
    before = catalog_ids(api_settings.catalog_db_url)
    mpus = in_progress_uploads(s3, api_settings.bucket_masters)
    boundary = "b" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\ncut\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.mov\"\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(10):
            yield b"\0" * MiB

    r = httpx.post(f"{api_url}/videos", content=body(), timeout=60,
                   headers={**admin, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400 and "ended before the upload was complete" in r.json()["detail"]
    assert in_progress_uploads(s3, api_settings.bucket_masters) <= mpus
    assert catalog_ids(api_settings.catalog_db_url) == before


def test_upload_and_requeue_need_an_admin(api_url, api_settings, s3):
    """No token: 401 naming the login; a viewer's token: 403; nothing is stored either way."""
    from authkit import headers_for, make_user

    before = catalog_ids(api_settings.catalog_db_url)
    mpus = in_progress_uploads(s3, api_settings.bucket_masters)
    form = {"data": {"title": "sneaky"}, "files": {"file": ("a.mp4", b"x" * 1000, "video/mp4")}}
    r = httpx.post(f"{api_url}/videos", **form)
    assert r.status_code == 401 and "POST /auth/login" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(f"{api_url}/videos", headers={"Authorization": "Bearer not.a.jwt"}, **form)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="vodflow", error="invalid_token"')
    viewer = make_user(api_settings)
    r = httpx.post(f"{api_url}/videos", headers=headers_for(api_settings, viewer), **form)
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    r = httpx.post(f"{api_url}/videos/{uuid.uuid4()}/ingest", headers=headers_for(api_settings, viewer))
    assert r.status_code == 403
    assert httpx.post(f"{api_url}/videos/{uuid.uuid4()}/ingest").status_code == 401
    assert catalog_ids(api_settings.catalog_db_url) == before
    assert in_progress_uploads(s3, api_settings.bucket_masters) <= mpus
    # the catalog reads stay public
    assert httpx.get(f"{api_url}/videos").status_code == 200


# ----------------------------------------------------------------------------- outages
def test_kafka_down_is_503_keeps_master_and_marks_failed(admin, api_url, api_settings, s3, tmp_path):
    down = settings_with(VODFLOW_CATALOG_DB_URL=api_settings.catalog_db_url,
                         VODFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")  # nothing listens there
    src = tmp_path / "clip.webm"
    write_file(src, 9 * MiB, seed=2)  # two S3 parts
    mpus = in_progress_uploads(s3, api_settings.bucket_masters)
    with serve(create_app(down, kafka_timeout=3)) as down_url:
        with open(src, "rb") as f:
            r = httpx.post(f"{down_url}/videos", headers=admin, data={"title": "during an outage"},
                           files={"file": (src.name, f)}, timeout=60)
    assert r.status_code == 503, r.text
    body = r.json()
    assert "Kafka is unavailable" in body["detail"] and body["status"] == "failed"
    vid = body["video_id"]
    row = get_catalog(api_settings.catalog_db_url).get_video(vid)
    assert row.status.value == "failed" and "Kafka is unavailable" in row.error
    # nothing lost: the master is complete, no parts left over, no 'uploaded' row without its object
    head = s3.head_object(Bucket=api_settings.bucket_masters, Key=row.source_key)
    assert head["ContentLength"] == 9 * MiB
    assert in_progress_uploads(s3, api_settings.bucket_masters) <= mpus
    assert_no_dangling_rows(s3, api_settings)

    # Kafka is back (the normal server): re-publish the request
    before = end_offsets(api_settings)
    r = httpx.post(f"{api_url}/videos/{vid}/ingest", headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "uploaded"
    assert httpx.get(f"{api_url}/videos/{vid}", headers=admin).json()["error"] is None
    assert len(ingest_messages(api_settings, before, vid)) == 1
    assert httpx.post(f"{api_url}/videos/{uuid.uuid4()}/ingest", headers=admin).status_code == 404


def test_s3_down_is_503_and_writes_nothing(admin, api_settings, tmp_path):
    down = settings_with(VODFLOW_CATALOG_DB_URL=api_settings.catalog_db_url,
                         VODFLOW_S3_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    before = catalog_ids(api_settings.catalog_db_url)
    with serve(create_app(down, s3_timeout=2)) as down_url:
        r = httpx.post(f"{down_url}/videos", headers=admin, data={"title": "no s3"},
                       files={"file": ("a.ts", os.urandom(100_000), "video/mp2t")}, timeout=60)
    assert r.status_code == 503, r.text
    assert "object store unavailable" in r.json()["detail"] and "nothing was stored" in r.json()["detail"]
    assert catalog_ids(api_settings.catalog_db_url) == before


# ----------------------------------------------------------------------------- reads
def test_unknown_video_is_404(api_url):
    for vid in (str(uuid.uuid4()), "not-a-uuid"):
        r = httpx.get(f"{api_url}/videos/{vid}")
        assert r.status_code == 404 and "no video" in r.json()["detail"]


def test_list_and_health(api_url, api_settings, admin):
    r = httpx.get(f"{api_url}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "catalog": "ok"}
    all_ = httpx.get(f"{api_url}/videos", headers=admin).json()
    assert all_["count"] == len(all_["videos"]) >= 1
    created = [v["created_at"] for v in all_["videos"]]
    assert created == sorted(created, reverse=True)
    failed = httpx.get(f"{api_url}/videos", params={"status": "failed"}, headers=admin).json()["videos"]
    assert all(v["status"] == "failed" for v in failed)
    assert httpx.get(f"{api_url}/videos", params={"status": "bogus"}).status_code == 422
    assert httpx.get(f"{api_url}/openapi.json").json()["paths"]["/videos"]["post"]["requestBody"]
