"""A private edge for tests of edge-config changes: this checkout's nginx config, rendered into a
temporary VODFLOW_HOME, on free ports, with this checkout's API (its /edge/verify) in a thread, in
front of the running stack's origin gateway and S3 (the shared edge on 8088 runs the main checkout's
config and cannot be restarted by a test).

``private_edge(tmp_path)`` yields the settings of that edge (sign with them: the CDN key pair is the
temporary home's own); objects go into the stack's origin bucket with :func:`publish`.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))   # apikit: uvicorn in a thread
from apikit import free_port, serve, settings_with  # noqa: E402

from vodflow.settings import Settings  # noqa: E402


@contextlib.contextmanager
def private_edge(home: Path, **env: str) -> Iterator[Settings]:
    from vodflow.api.app import create_app
    from vodflow.cdn import edge as edge_files
    from vodflow.stack import health

    base = settings_with()
    if not health.s3(base)[0]:
        import pytest

        pytest.skip("the stack's S3 is not running (`vodflow status`); the private edge reads its origin bucket")
    if not edge_files.find_nginx():
        import pytest

        pytest.skip("nginx is not installed (scripts/system-deps.sh)")
    api_port, edge_port = free_port(), free_port()
    s = settings_with(VODFLOW_HOME=str(home), VODFLOW_CATALOG_DB_URL=f"sqlite:///{home}/catalog.db",
                      VODFLOW_API_URL=f"http://127.0.0.1:{api_port}", VODFLOW_EDGE_PORT=str(edge_port),
                      VODFLOW_EDGE_URL=f"http://127.0.0.1:{edge_port}",
                      VODFLOW_EDGE_ORIGIN_URL=base["VODFLOW_EDGE_ORIGIN_URL"], **env)
    with serve(create_app(s), port=api_port):
        edge_files.render_nginx_conf(s)
        edge_files.check_nginx_conf(s)
        log = open(home / "edge-nginx.log", "w")
        proc = start_nginx(s, log)
        try:
            yield s
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()


def start_nginx(s: Settings, log) -> subprocess.Popen:
    """nginx on the rendered config of ``s`` (output to ``log``), returned once /_edge/health answers."""
    from vodflow.cdn import edge as edge_files

    proc = subprocess.Popen(edge_files.nginx_argv(s), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(f"{edge_files.edge_local_url(s)}/_edge/health", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the private edge did not start (see its log)")
        time.sleep(0.1)


def publish(s: Settings, video_id: str, files: dict[str, bytes]) -> list[str]:
    """Put ``files`` under ``videos/<video_id>/`` in the origin bucket (publish's headers); returns the keys."""
    from vodflow.clients import s3_client
    from vodflow.ingest.publish import content_headers

    c = s3_client(s)
    keys = []
    for name, body in files.items():
        key = f"videos/{video_id}/{name}"
        ctype, cache = content_headers(name)
        c.put_object(Bucket=s.bucket_origin, Key=key, Body=body, ContentType=ctype, CacheControl=cache)
        keys.append(key)
    return keys


def unpublish(s: Settings, keys: list[str]) -> None:
    from vodflow.clients import s3_client

    c = s3_client(s)
    for k in keys:
        c.delete_object(Bucket=s.bucket_origin, Key=k)


def origin_requests(s: Settings, needle: str) -> int:
    from vodflow.cdn import edge as edge_files

    try:
        return sum(1 for line in edge_files.origin_log(s).read_text().splitlines() if needle in line)
    except FileNotFoundError:
        return 0


__all__ = ["origin_requests", "private_edge", "publish", "start_nginx", "unpublish"]
