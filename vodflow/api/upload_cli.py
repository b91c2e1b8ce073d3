"""Upload from the command line: ``vodflow upload FILE --title T [--regions US,CA]`` and ``vodflow api``.

:func:`upload_file` streams the file to ``POST /videos`` as a hand-built multipart body from a
generator (1 MiB reads, with a ``Content-Length``), so a 10 GB master is never read into
memory, and shows a rich progress bar. Uploading needs an admin's access token: ``token=`` /
``--token``, else ``VODFLOW_API_TOKEN``, else a login as ``VODFLOW_ADMIN_EMAIL`` (see
``vodflow.auth.client``). The lead registers the commands with
``vodflow.api.upload_cli.register(app)`` in ``vodflow/cli.py``.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from vodflow.api.formats import ALLOWED_EXTENSIONS, UnsupportedFormat, extension_of

CHUNK = 1024 * 1024
START_HINT = "start it with `vodflow up` or `vodflow api`"


class UploadError(RuntimeError):
    """The upload did not succeed; the message says why and what to do."""

    def __init__(self, message: str, status_code: int | None = None, body: Any = None):
        super().__init__(message)
        self.status_code, self.body = status_code, body


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def multipart_body(path: Path, fields: dict[str, str], boundary: str,
                   on_chunk=None) -> tuple[int, Iterator[bytes]]:
    """(content length, chunk iterator) of a multipart/form-data body: ``fields`` then the ``file`` part."""
    b = boundary.encode()
    head = b"".join(
        b"--" + b + b"\r\n" + f'Content-Disposition: form-data; name="{_quote(k)}"\r\n\r\n'.encode()
        + v.encode() + b"\r\n" for k, v in fields.items())
    head += (b"--" + b + b"\r\n"
             + f'Content-Disposition: form-data; name="file"; filename="{_quote(path.name)}"\r\n'.encode()
             + b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--" + b + b"--\r\n"
    size = path.stat().st_size

    def gen() -> Iterator[bytes]:
        yield head
        sent = 0
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                sent += len(chunk)
                if on_chunk:
                    on_chunk(len(chunk))
                yield chunk
        if sent != size:
            raise UploadError(f"{path} changed size while it was being uploaded ({size} -> {sent} bytes)")
        yield tail

    return len(head) + size + len(tail), gen()


def upload_file(path: str | os.PathLike[str], title: str, api_url: str, regions: str | Iterable[str] | None = None,
                *, console: Console | None = None, progress: bool = True,
                timeout: float = 600.0, token: str | None = None) -> dict[str, Any]:
    """Upload ``path`` to ``{api_url}/videos``; returns the API's answer (``video_id``, ``status``, ``status_url``).

    ``token``: an admin's access token (default: ``VODFLOW_API_TOKEN``, else an admin login).
    Raises :class:`UploadError` with a message naming the fix (API not running, bad file, ...).
    """
    import httpx  # imported here: keeps `vodflow --help` fast

    from vodflow.auth.client import ApiAuthError, api_token

    p = Path(path)
    if not p.is_file():
        raise UploadError(f"{p} is not a file")
    try:
        extension_of(p.name)
    except UnsupportedFormat as e:
        raise UploadError(str(e), 415) from None
    if p.stat().st_size == 0:
        raise UploadError(f"{p} is empty", 400)
    try:
        token = api_token(api_url, token)
    except ApiAuthError as e:
        raise UploadError(str(e), 401) from None
    fields = {"title": title}
    if regions:
        fields["regions"] = regions if isinstance(regions, str) else ",".join(regions)
    url = api_url.rstrip("/") + "/videos"
    console = console or Console(stderr=True)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=console, disable=not progress, transient=False)
    task = bar.add_task(f"uploading {p.name}", total=p.stat().st_size)
    boundary = "vodflow-" + uuid.uuid4().hex
    length, body = multipart_body(p, fields, boundary, on_chunk=lambda n: bar.advance(task, n))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length),
               "Authorization": f"Bearer {token}"}
    try:
        with bar, httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0)) as client:
            r = client.post(url, content=body, headers=headers)
    except httpx.ConnectError as e:
        raise UploadError(f"the vodflow API is not reachable at {api_url} ({e}); {START_HINT}") from e
    except httpx.TimeoutException as e:
        raise UploadError(f"the vodflow API at {api_url} did not answer in time ({type(e).__name__}); "
                          "check `vodflow status` and `vodflow logs api`") from e
    except httpx.HTTPError as e:
        raise UploadError(f"the upload to {url} failed: {type(e).__name__}: {e}") from e
    try:
        data = r.json()
    except ValueError:
        data = {"detail": r.text[:500]}
    if r.status_code != 201:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        if r.status_code in (401, 403):
            detail = f"{detail} (pass an admin's token with --token or VODFLOW_API_TOKEN)"
        raise UploadError(f"the API refused the upload (HTTP {r.status_code}): {detail}", r.status_code, data)
    return data


# ----------------------------------------------------------------------------- typer commands
err = Console(stderr=True)


def upload(file: Path = typer.Argument(..., help=f"The master ({', '.join(ALLOWED_EXTENSIONS)})."),
           title: str = typer.Option(..., "--title", "-t", help="Title of the video."),
           regions: Optional[str] = typer.Option(None, "--regions", help="Comma-separated ISO country codes where "
                                                 "the video is available, e.g. US,CA (default: worldwide)."),
           api_url: Optional[str] = typer.Option(None, "--api-url", help="API URL (default VODFLOW_API_URL)."),
           token: Optional[str] = typer.Option(None, "--token", envvar="VODFLOW_API_TOKEN",
                                               help="An admin's access token (default: log in as "
                                                    "VODFLOW_ADMIN_EMAIL / VODFLOW_ADMIN_PASSWORD)."),
           wait: bool = typer.Option(False, "--wait", help="Follow the ingest until the title is ready (exit 0) "
                                                           "or failed (exit 1, with the reason)."),
           timeout: float = typer.Option(900, "--timeout", min=1, help="Seconds --wait waits at most."),
           ) -> None:
    """Upload a video master to the API (streamed, with a progress bar) and queue it for ingest."""
    from vodflow.settings import get_settings

    url = api_url or get_settings().api_url
    try:
        res = upload_file(file, title, url, regions, token=token)
    except UploadError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from None
    out = Console()
    out.print(f"[green]uploaded[/] {file.name} as video [bold]{res['video_id']}[/] ({res['status']})")
    out.print(f"status: {url.rstrip('/')}{res['status_url']}  (`vodflow videos show {res['video_id']}`)")
    if wait:
        _wait_for_ingest(url, res["video_id"], timeout, out)


def _wait_for_ingest(url: str, video_id: str, timeout: float, out: Console) -> None:
    from rich.markup import escape

    from vodflow.catalog.cli import follow_with_progress, print_title
    from vodflow.catalog.client import CatalogUnavailable, UnknownVideo

    try:
        rec = follow_with_progress(url, video_id, timeout)
    except (CatalogUnavailable, UnknownVideo, TimeoutError) as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(1) from None
    print_title(rec, out)
    if rec["status"] != "ready":
        from vodflow.catalog.reasons import describe

        err.print(f"[bold red]error:[/] {escape(describe(rec.get('error')))}", soft_wrap=True)
        raise typer.Exit(1)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def api(port: Optional[int] = typer.Option(None, "--port", help="Port (default: the port of VODFLOW_API_URL)."),
        host: Optional[str] = typer.Option(None, "--host", help="Address (default VODFLOW_BIND_HOST).")) -> None:
    """Run the upload/catalog API in the foreground (uvicorn)."""
    import uvicorn

    from vodflow.settings import get_settings

    s = get_settings()
    host, port = host or s.bind_host, port or s.api_port
    if not _port_free(host, port):
        err.print(f"[bold red]error:[/] port {port} on {host} is in use - is the API already running? "
                  "(`vodflow status`); choose another with --port")
        raise typer.Exit(1)
    uvicorn.run("vodflow.api.app:app", host=host, port=port, workers=1, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``upload`` and ``api`` to the ``vodflow`` command."""
    app.command("upload")(upload)
    app.command("api")(api)
