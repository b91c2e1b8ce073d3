"""A clip taken through the ingest steps of the video_ingest DAG in-process (accept, inspect, transcode,
go_live) on the shared stack's S3 and catalog: the code under test is this checkout's pipeline."""

from __future__ import annotations

import uuid
from pathlib import Path


def ingest_clip(settings, src: Path, name: str, run_prefix: str) -> dict:
    """Upload ``src`` as a master, register it as ``name`` and ingest it; returns go_live's row (ready)."""
    from vodflow import catalog
    from vodflow.clients import s3_client
    from vodflow.ingest import pipeline

    s, vid = settings, str(uuid.uuid4())
    key = f"masters/{vid}/original{src.suffix.lower()}"
    s3_client(s).upload_file(str(src), s.bucket_masters, key)
    catalog.create_video(name, key, video_id=vid)
    quiet = lambda m: None  # noqa: E731
    req = pipeline.accept(f"{run_prefix}__{vid}", video_id=vid, s=s, log=quiet)
    plan = pipeline.inspect(req, s=s, log=quiet)
    result = pipeline.transcode(req, plan, s=s, log=quiet)
    rec = pipeline.go_live(req, result, s=s, log=quiet)
    assert rec["status"] == "ready", rec
    return rec
