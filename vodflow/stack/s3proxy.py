"""S3Proxy as the local stack runs it, twice: the object store and the edge's origin gateway.

Both are the same jar with the filesystem backend; they differ only in their properties:

``s3``           the main endpoint (``VODFLOW_S3_*``): SigV2/SigV4 with the configured keys, CORS for the
                 web player, root ``$VODFLOW_HOME/s3`` (one directory per bucket).
``edge-origin``  read-only, no authentication, on ``VODFLOW_EDGE_ORIGIN_URL``; its root
                 (``$VODFLOW_HOME/edge/origin-gateway/root``) holds only a link to the origin bucket's
                 directory, so the edge can read that bucket and nothing else (the local stand-in for
                 CloudFront Origin Access Control; see :mod:`vodflow.cdn.edge`).

This module writes both configurations and builds both command lines; :mod:`vodflow.stack.services`
turns them into services.
"""

from __future__ import annotations

import os
from pathlib import Path

from vodflow.cdn.edge import edge_dir, origin_hostport
from vodflow.settings import Settings

MAIN_CLASS = "org.gaul.s3proxy.Main"

# S3Proxy's jar logs every request at DEBUG without a logback config (GBs per test run, and CPU)
LOGBACK = (
    '<configuration>\n  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">\n'
    '    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{24} - %msg%n</pattern></encoder>\n'
    '  </appender>\n  <root level="WARN"><appender-ref ref="OUT"/></root>\n</configuration>\n')


class S3ProxyFiles:
    """Where one S3Proxy's properties and logback config live."""

    def __init__(self, properties: Path, logback: Path):
        self.properties, self.logback = properties, logback

    def write(self, endpoint: str, basedir: Path, access: list[str]) -> Path:
        """Write the properties (``access``: the ``s3proxy.*`` lines on authentication) and the logback
        config; return the properties' path."""
        self.properties.parent.mkdir(parents=True, exist_ok=True)
        self.properties.write_text("\n".join([
            f"s3proxy.endpoint={endpoint}",
            *access,
            "jclouds.provider=filesystem-nio2",
            "jclouds.identity=local",
            "jclouds.credential=local",
            f"jclouds.filesystem.basedir={basedir}",
            "",
        ]))
        self.logback.write_text(LOGBACK)
        return self.properties

    def argv(self, java: str, heap: str, classpath: str) -> list[str]:
        return [java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                f"-Dlogback.configurationFile={self.logback}", "-cp", classpath, MAIN_CLASS,
                "--properties", str(self.properties)]


# --------------------------------------------------------------------------- main object store
def main_files(s: Settings) -> S3ProxyFiles:
    conf = s.home / "conf"
    return S3ProxyFiles(conf / "s3proxy.properties", conf / "s3proxy-logback.xml")


def data_dir(s: Settings) -> Path:
    """The filesystem backend's root: one directory per bucket."""
    return s.home / "s3"


def prepare_main(s: Settings) -> Path:
    data_dir(s).mkdir(parents=True, exist_ok=True)
    return main_files(s).write(f"http://{s.bind_host}:{s.s3_port}", data_dir(s), [
        "s3proxy.authorization=aws-v2-or-v4",
        f"s3proxy.identity={s.s3_access_key}",
        f"s3proxy.credential={s.s3_secret_key}",
        "s3proxy.cors-allow-all=true",
    ])


# --------------------------------------------------------------------------- origin gateway
def gateway_dir(s: Settings) -> Path:
    return edge_dir(s) / "origin-gateway"


def gateway_files(s: Settings) -> S3ProxyFiles:
    d = gateway_dir(s)
    return S3ProxyFiles(d / "s3proxy.properties", d / "logback.xml")


def prepare_origin_gateway(s: Settings) -> Path:
    """Write the gateway's S3Proxy properties and its root (a link to the origin bucket only)."""
    root = gateway_dir(s) / "root"
    root.mkdir(parents=True, exist_ok=True)
    bucket_dir = data_dir(s) / s.bucket_origin
    bucket_dir.mkdir(parents=True, exist_ok=True)
    link = root / s.bucket_origin
    if link.is_symlink() and Path(os.readlink(link)) != bucket_dir:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(bucket_dir, target_is_directory=True)
    for other in root.iterdir():  # a renamed origin bucket leaves no stale link behind
        if other.name != s.bucket_origin:
            other.unlink()
    host, port = origin_hostport(s)
    return gateway_files(s).write(f"http://{host}:{port}", root, [
        "s3proxy.authorization=none",
        "s3proxy.read-only-blobstore=true",
    ])
