"""The lake's own S3 server: SeaweedFS ``weed mini`` as the local stack runs it (service ``lake-s3``).

Why a second S3 server: a Delta LogStore that is safe for concurrent writers commits with a put-if-absent
(``If-None-Match: *``), and only a server whose conditional put is atomic makes that safe. S3Proxy (the media's
store, which the edge's origin gateway reads from its directory) is a check-then-write; SeaweedFS serialises
the check and the write on a per-object lock (bench/s3_put_if_absent.py, docs/reliability.md).

Rules (VODFLOW_LAKE_S3=on, the cluster profile):

* the binary is ``$VODFLOW_HOME/bin/weed`` (``make seaweedfs``: SeaweedFS 4.53 built from the pinned module
  in go/seaweedfs/);
* ``weed mini`` runs master, volume server, filer and the S3 gateway in one process; the S3 gateway listens
  on VODFLOW_LAKE_S3_ENDPOINT's port P, the other parts on P+1 .. P+10 (:func:`ports`; P+10 its Prometheus
  metrics), all on the bind address; the WebDAV, Iceberg, Lance and admin UI extras are off;
* its one identity is the lake's keys (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` in its environment),
  and ``-bucket`` creates the lake's bucket at start;
* its data directory ``$VODFLOW_HOME/lake-s3`` holds nothing else (``weed mini`` removes files it does not
  know there).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from vodflow.settings import Settings

# P+n for each part of `weed mini`; P is the S3 port (VODFLOW_LAKE_S3_ENDPOINT's)
PORT_OFFSETS = {"s3": 0, "master": 1, "volume": 2, "filer": 3, "master.grpc": 4, "volume.grpc": 5,
                "filer.grpc": 6, "s3.grpc": 7, "admin": 8, "admin.grpc": 9, "metrics": 10}


class LakeS3Error(ValueError):
    """The lake-s3 settings cannot work; the message names the fix."""


def on(s: Settings) -> bool:
    return s["VODFLOW_LAKE_S3"].strip().lower() in ("on", "true", "1", "yes")


def binary(s: Settings) -> Path:
    return s.home / "bin" / "weed"


def data_dir(s: Settings) -> Path:
    return s.home / "lake-s3"


def address(s: Settings) -> tuple[str, int]:
    """(host, S3 port) from VODFLOW_LAKE_S3_ENDPOINT, which must name a local http:// endpoint."""
    url = s["VODFLOW_LAKE_S3_ENDPOINT"]
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.port or parts.hostname not in ("127.0.0.1", "localhost", s.bind_host):
        raise LakeS3Error(f"VODFLOW_LAKE_S3=on runs the lake's S3 server here: set VODFLOW_LAKE_S3_ENDPOINT to "
                          f"http://{s.bind_host}:<port> (it is {url!r})")
    return parts.hostname, parts.port


def ports(s: Settings) -> dict[str, int]:
    _, p = address(s)
    return {part: p + off for part, off in PORT_OFFSETS.items()}


def bucket(s: Settings) -> str:
    b = s.lake_bucket
    if not s.lake_uri.startswith("s3a://") or not b:
        raise LakeS3Error(f"VODFLOW_LAKE_S3=on serves an s3a:// lake: set VODFLOW_LAKE_URI to s3a://<bucket>/<prefix> "
                          f"(it is {s.lake_uri!r})")
    return b


def argv(s: Settings) -> list[str]:
    host, _ = address(s)
    p = ports(s)
    return [str(binary(s)), "mini", f"-dir={data_dir(s)}", f"-ip={host}", f"-ip.bind={host}",
            f"-s3.port={p['s3']}", f"-master.port={p['master']}", f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port.grpc={p['volume.grpc']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port.grpc={p['s3.grpc']}", f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}",
            "-admin.port.legacy=0", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-metricsPort={p['metrics']}", f"-bucket={bucket(s)}"]


def env(s: Settings) -> dict[str, str]:
    """The server's one identity: the lake's keys."""
    return {"AWS_ACCESS_KEY_ID": s.lake_s3_access_key, "AWS_SECRET_ACCESS_KEY": s.lake_s3_secret_key}


def refused_puts(s: Settings, timeout: float = 5) -> int | None:
    """PUTs into the lake's bucket the server refused with 412 since it started (its metrics'
    ``SeaweedFS_s3_request_total{code="412",type="PUT"}``): in the lake only a commit is a conditional put, so
    each is a commit that lost a race for its version and was retried at the next. None when not reachable."""
    import re
    import urllib.request

    host, _ = address(s)
    try:
        with urllib.request.urlopen(f"http://{host}:{ports(s)['metrics']}/metrics", timeout=timeout) as r:  # noqa: S310
            text = r.read().decode()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith("SeaweedFS_s3_request_total{") and 'code="412"' in line and 'type="PUT"' in line \
                and f'bucket="{bucket(s)}"' in line:
            total += int(float(re.split(r"\s+", line.strip())[-1]))
    return total
