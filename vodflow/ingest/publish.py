"""Publish a packaged title to the origin bucket, atomically.

Layout: ``videos/{video_id}/{publish_id}/...`` where ``publish_id`` is derived from the
Airflow run. Files go up in an order that never exposes a half-written title: segments
and init segments first, then media playlists, then the DASH MPD, and the HLS master
playlist last. Only after the catalog points at the new ``publish_id`` are the older
sets under ``videos/{video_id}/`` deleted, so a rerun leaves exactly one consistent
published set, and a failed run removes what it wrote (``unpublish``).
"""

from __future__ import annotations

import hashlib
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vodflow.clients import s3_client
from vodflow.settings import Settings, get_settings

IMMUTABLE = "public, max-age=31536000, immutable"
PLAYLIST = "public, max-age=10, stale-while-revalidate=30"
IMAGES = "public, max-age=86400"

_TYPES = {
    ".m3u8": ("application/vnd.apple.mpegurl", PLAYLIST),
    ".mpd": ("application/dash+xml", PLAYLIST),
    ".m4s": ("video/iso.segment", IMMUTABLE),
    ".mp4": ("video/mp4", IMMUTABLE),
    ".m4a": ("audio/mp4", IMMUTABLE),
    ".m4v": ("video/mp4", IMMUTABLE),
    ".jpg": ("image/jpeg", IMAGES),
    ".jpeg": ("image/jpeg", IMAGES),
    ".png": ("image/png", IMAGES),
    ".webp": ("image/webp", IMAGES),
    ".vtt": ("text/vtt", PLAYLIST),
    ".json": ("application/json", PLAYLIST),
}


def content_headers(name: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) for a published file."""
    suffix = Path(name).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    return (mimetypes.guess_type(name)[0] or "application/octet-stream", IMMUTABLE)


def publish_id_for(run_id: str) -> str:
    return "p" + hashlib.sha1(run_id.encode()).hexdigest()[:10]


def title_prefix(video_id: str) -> str:
    return f"videos/{video_id}/"


@dataclass
class Published:
    prefix: str
    keys: list[str]
    bytes: int


def _rank(rel: str, master_names: set[str]) -> int:
    """Upload order: media first, then media playlists, then MPD, then HLS master(s) last."""
    if rel in master_names:
        return 3
    if rel.endswith(".mpd"):
        return 2
    if rel.endswith(".m3u8"):
        return 1
    return 0


def publish_dir(local_dir: Path, video_id: str, publish_id: str, master_playlists: list[str],
                settings: Settings | None = None, progress: Callable[[int, int], None] | None = None) -> Published:
    """Upload every file of ``local_dir`` under ``videos/{video_id}/{publish_id}/``."""
    s = settings or get_settings()
    client = s3_client(s)
    prefix = f"{title_prefix(video_id)}{publish_id}/"
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    rels = [p.relative_to(local_dir).as_posix() for p in files]
    masters = set(master_playlists)
    missing = masters - set(rels)
    if missing:
        raise FileNotFoundError(f"master playlist(s) {sorted(missing)} not in {local_dir}")
    by_rank: dict[int, list[tuple[Path, str]]] = {}
    for p, rel in zip(files, rels):
        by_rank.setdefault(_rank(rel, masters), []).append((p, rel))
    done, total, nbytes = 0, len(files), 0

    def put(item: tuple[Path, str]) -> int:
        p, rel = item
        ctype, cache = content_headers(rel)
        with open(p, "rb") as fh:
            client.put_object(Bucket=s.bucket_origin, Key=prefix + rel, Body=fh, ContentType=ctype,
                              CacheControl=cache)
        return p.stat().st_size

    for rank in sorted(by_rank):
        # each rank completes before the next starts: the master appears only when all it names exist
        with ThreadPoolExecutor(max_workers=8) as pool:
            for n in pool.map(put, by_rank[rank]):
                nbytes += n
                done += 1
                if progress:
                    progress(done, total)
    return Published(prefix=prefix, keys=[prefix + r for r in rels], bytes=nbytes)


def list_keys(prefix: str, bucket: str, settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    client = s3_client(s)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def delete_keys(keys: list[str], bucket: str, settings: Settings | None = None) -> int:
    """Delete keys with DeleteObjects (1000 a request); servers without it (S3Proxy refuses its
    checksum header) get one DeleteObject per key."""
    from botocore.exceptions import ClientError

    s = settings or get_settings()
    client = s3_client(s)
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        try:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NotImplemented":
                raise
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda k: client.delete_object(Bucket=bucket, Key=k), chunk))
    return len(keys)


def unpublish(video_id: str, publish_id: str | None = None, keep: str | None = None,
              settings: Settings | None = None) -> int:
    """Delete published files of a title: one publish set, or every set except ``keep``."""
    s = settings or get_settings()
    base = title_prefix(video_id)
    prefix = f"{base}{publish_id}/" if publish_id else base
    keys = list_keys(prefix, s.bucket_origin, s)
    if keep:
        keys = [k for k in keys if not k.startswith(f"{base}{keep}/")]
    return delete_keys(keys, s.bucket_origin, s)
