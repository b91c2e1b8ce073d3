"""Helpers of the API tests: free ports, settings variants, a real uvicorn server in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Iterator

from vodflow.settings import Settings, load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_with(**env: str) -> Settings:
    """Process settings with some VODFLOW_* values replaced."""
    return load({**os.environ, **env})


@contextlib.contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    """Run ``app`` with a real uvicorn server on ``port`` (default: a free one) in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    t = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not t.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test API server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(15)
