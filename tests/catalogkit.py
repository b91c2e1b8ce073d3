"""A real vodflow API over a private SQLite catalog with titles in known states (no S3/Kafka needed:
catalog reads never touch them). For the tests of the catalog client, ``vodflow videos`` and the
simulator's catalog defaults."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).parent / "api"))   # apikit: the tests' uvicorn-in-a-thread server
from apikit import serve, settings_with  # noqa: E402

REASON = "the file is not a video: ffprobe found no video stream (moov atom not found)"


@dataclass
class CatalogApi:
    url: str
    ready: dict[str, float]      # id -> duration_s of the ready titles
    failed: str                  # id of the failed title
    uploaded: str                # id of a title still waiting for its ingest
    settings: Any                # the API's settings (mint tokens for it with authkit)
    admin_token: str = ""        # an operator's token: every status and the full rows


def add_ready(catalog, title: str, duration_s: float, rungs=("360p", "720p")) -> str:
    """A title taken through the catalog's real transitions to ``ready`` with a probed duration."""
    rec = catalog.create_video(title, f"masters/{title}/original.mp4")
    catalog.start_processing(rec.id, f"run-{rec.id}")
    renditions = [{"name": n, "width": 640 * (i + 1), "height": 360 * (i + 1), "fps": 25.0,
                   "codecs": "avc1.64001f,mp4a.40.2", "bandwidth": 800_000 * (i + 1),
                   "measured_avg_bitrate": 700_000 * (i + 1)} for i, n in enumerate(rungs)]
    catalog.mark_ready(rec.id, renditions, {"hls": f"videos/{rec.id}/p/master.m3u8",
                                            "dash": f"videos/{rec.id}/p/manifest.mpd"},
                       source_props={"duration": duration_s, "width": 1280, "height": 720})
    return rec.id


@contextlib.contextmanager
def catalog_api(tmp_path: Path, ready: dict[str, float] | None = None) -> Iterator[CatalogApi]:
    """Serve ``create_app`` over a new catalog with ``ready`` titles ({title: duration}), one failed
    title (reason :data:`REASON`) and one still ``uploaded``."""
    from vodflow.api.app import create_app
    from vodflow.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    cat = Catalog(url)
    ids = {add_ready(cat, t, d): d for t, d in (ready or {}).items()}
    bad = cat.create_video("Not a video", "masters/x/original.mp4")
    cat.mark_failed(bad.id, REASON)
    waiting = cat.create_video("Waiting", "masters/y/original.mp4")
    s = settings_with(VODFLOW_CATALOG_DB_URL=url)
    from authkit import admin_headers  # the admin `vodflow up` creates: the CLI's login finds it

    token = admin_headers(s)["Authorization"].split(" ", 1)[1]
    with serve(create_app(s)) as api:
        yield CatalogApi(api, ids, bad.id, waiting.id, s, token)
