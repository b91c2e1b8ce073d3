"""Stream a ``multipart/form-data`` upload straight into an S3 multipart upload.

The request body is parsed incrementally with python-multipart's ``MultipartParser`` while it
arrives (``request.stream()``); the file part's bytes are cut into 8 MiB S3 parts. At most two
parts are in memory per upload: the one being filled and the one being sent to S3 (sending part
N overlaps receiving part N+1). Nothing is spooled to disk. The extension is checked as soon as
the file part's headers arrive, so a bad upload is refused before its bytes are stored.

On any failure (client gone, malformed body, S3 error, validation error) the S3 multipart upload
is aborted, so no parts are left behind; the caller decides what to do with a completed object.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from vodflow.api import formats
from vodflow.api.formats import ALLOWED_EXTENSIONS, CONTENT_TYPES  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
# Seconds between further attempts to abort a multipart upload whose first abort failed (the S3 server was
# restarting, say): in the background, so the failed request answers at once; ~2 minutes in all.
ABORT_RETRY_S = (2, 4, 8, 15, 30, 60)
_background: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones
MAX_FIELD_BYTES = 64 * 1024      # title / regions / unknown text fields
DRAIN_LIMIT = 64 * MiB           # bytes of a refused body still read so the client sees the error


class UploadRejected(Exception):
    """The upload is refused; ``status_code`` and ``detail`` become the HTTP answer."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


class StorageUnavailable(Exception):
    """S3 failed (unreachable, refused the request, missing bucket, ...)."""


def extension_of(filename: str) -> str:
    """Lower-cased extension of ``filename`` if it is a supported master container, else UploadRejected(415)."""
    try:
        return formats.extension_of(filename)
    except formats.UnsupportedFormat as e:
        raise UploadRejected(415, str(e)) from None


def _s3_error(action: str, bucket: str, key: str, e: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"object store unavailable: {action} s3://{bucket}/{key} failed "
                              f"({type(e).__name__}: {e})")


class S3MultipartWriter:
    """Buffers bytes into ``part_size`` parts and uploads them with one part in flight.

    The S3 multipart upload is created with the first part, so an empty file never touches S3.
    """

    def __init__(self, s3, bucket: str, key: str, content_type: str, part_size: int = PART_SIZE):
        self.s3, self.bucket, self.key, self.content_type, self.part_size = s3, bucket, key, content_type, part_size
        self.upload_id: str | None = None
        self.size = 0
        self._buf = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._pending: asyncio.Future | None = None
        self._number = 0

    async def _call(self, action: str, fn: Callable[..., Any], **kw: Any) -> Any:
        try:
            return await run_in_threadpool(fn, **kw)
        except Exception as e:  # noqa: BLE001 - botocore raises many types; all mean "S3 failed"
            raise _s3_error(action, self.bucket, self.key, e) from e

    async def _start(self) -> None:
        if self.upload_id is None:
            r = await self._call("starting a multipart upload to", self.s3.create_multipart_upload,
                                 Bucket=self.bucket, Key=self.key, ContentType=self.content_type)
            self.upload_id = r["UploadId"]

    async def _send(self, number: int, body: bytearray) -> None:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - integrity, not security
        r = await self._call(f"uploading part {number} to", self.s3.upload_part, Bucket=self.bucket, Key=self.key,
                             UploadId=self.upload_id, PartNumber=number, Body=body, ContentMD5=md5)
        self._parts.append({"PartNumber": number, "ETag": r["ETag"]})

    async def _flush(self) -> None:
        await self._start()
        if self._pending is not None:        # at most one part in flight
            await self._pending
            self._pending = None
        body, self._buf = self._buf, bytearray()
        self._number += 1
        self._pending = asyncio.ensure_future(self._send(self._number, body))

    async def write(self, data: bytes) -> None:
        self._buf += data
        self.size += len(data)
        if len(self._buf) >= self.part_size:
            await self._flush()

    async def complete(self) -> dict[str, Any]:
        """Upload the last part, complete the upload and check the stored size."""
        if self._buf or self.upload_id is None:
            await self._flush()
        if self._pending is not None:
            await self._pending
            self._pending = None
        parts = sorted(self._parts, key=lambda p: p["PartNumber"])
        await self._call("completing the multipart upload of", self.s3.complete_multipart_upload,
                         Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                         MultipartUpload={"Parts": parts})
        self.upload_id = None  # completed: nothing to abort any more
        head = await self._call("checking", self.s3.head_object, Bucket=self.bucket, Key=self.key)
        if head["ContentLength"] != self.size:
            raise StorageUnavailable(f"s3://{self.bucket}/{self.key} has {head['ContentLength']} bytes after "
                                     f"the upload, expected {self.size}")
        return head

    async def abort(self) -> None:
        """Abort the multipart upload (best effort: when S3 cannot be reached, retried in the background for
        ~2 minutes (ABORT_RETRY_S), then logged for a lifecycle rule to clean up)."""
        if self._pending is not None:
            try:
                await self._pending
            except Exception:  # noqa: BLE001 - we are aborting anyway
                pass
            self._pending = None
        self._buf = bytearray()
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None
        if not await self._try_abort(upload_id):
            task = asyncio.get_running_loop().create_task(self._abort_later(upload_id))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _try_abort(self, upload_id: str) -> bool:
        try:
            await run_in_threadpool(self.s3.abort_multipart_upload, Bucket=self.bucket, Key=self.key,
                                    UploadId=upload_id)
            return True
        except Exception as e:  # noqa: BLE001
            log.warning("could not abort multipart upload %s of s3://%s/%s (%s)", upload_id, self.bucket,
                        self.key, e)
            return False

    async def _abort_later(self, upload_id: str) -> None:
        """Retry a failed abort for a while: an S3 server back from a restart gets its parts removed."""
        for delay in ABORT_RETRY_S:
            await asyncio.sleep(delay)
            if await self._try_abort(upload_id):
                log.info("aborted multipart upload %s of s3://%s/%s on a later attempt", upload_id,
                         self.bucket, self.key)
                return
        log.error("gave up aborting multipart upload %s of s3://%s/%s; a bucket lifecycle rule "
                  "AbortIncompleteMultipartUpload cleans it up", upload_id, self.bucket, self.key)


@dataclass
class ReceivedUpload:
    """What :func:`receive_upload` stored."""

    fields: dict[str, str]
    filename: str
    ext: str
    key: str
    content_type: str
    size: int
    writer: S3MultipartWriter = field(repr=False)


class _Events:
    """MultipartParser callbacks collected as a list, processed (awaited) after each ``write``."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []

    def callbacks(self) -> dict[str, Callable]:
        def data_cb(kind: str):
            return lambda data, start, end: self.items.append((kind, data[start:end]))

        def plain_cb(kind: str):
            return lambda: self.items.append((kind, b""))

        return {
            "on_part_begin": plain_cb("part_begin"),
            "on_header_field": data_cb("header_field"),
            "on_header_value": data_cb("header_value"),
            "on_header_end": plain_cb("header_end"),
            "on_headers_finished": plain_cb("headers_finished"),
            "on_part_data": data_cb("data"),
            "on_part_end": plain_cb("part_end"),
            "on_end": plain_cb("end"),
        }


def boundary_of(content_type: str | None) -> bytes:
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRejected(415, "send the upload as multipart/form-data with the fields 'title', 'file' "
                                  "and optionally 'regions' (e.g. curl -F title=T -F file=@movie.mp4)")
    return params[b"boundary"]


async def receive_upload(stream: AsyncIterator[bytes], content_type: str | None, *, s3, bucket: str,
                         key_for: Callable[[str], str], validate_fields: Callable[[dict[str, str]], None],
                         part_size: int = PART_SIZE, max_bytes: int | None = None) -> ReceivedUpload:
    """Parse the multipart body from ``stream`` and store its ``file`` part at ``key_for(ext)`` in S3.

    ``validate_fields(fields)`` runs before the upload is completed (raise UploadRejected to refuse).
    ``max_bytes``: a file part growing past it is refused (413) while it streams; its parts are aborted.
    Returns after the S3 upload is complete and its size checked. On failure, the multipart
    upload is aborted and the exception re-raised (UploadRejected / StorageUnavailable /
    starlette ClientDisconnect).
    """
    boundary = boundary_of(content_type)
    events = _Events()
    parser = MultipartParser(boundary, events.callbacks())
    fields: dict[str, str] = {}
    writer: S3MultipartWriter | None = None
    filename = ext = ""
    file_done = ended = False
    # per-part state
    headers: dict[bytes, bytes] = {}
    hname = hvalue = b""
    part: str | None = None          # "file", a field name, or None (ignored part)
    field_buf = bytearray()

    async def handle(kind: str, data: bytes) -> None:
        nonlocal writer, filename, ext, file_done, ended, hname, hvalue, part, field_buf, headers
        if kind == "part_begin":
            headers, hname, hvalue, part, field_buf = {}, b"", b"", None, bytearray()
        elif kind == "header_field":
            hname += data
        elif kind == "header_value":
            hvalue += data
        elif kind == "header_end":
            headers[hname.lower()] = hvalue
            hname = hvalue = b""
        elif kind == "headers_finished":
            _, opts = parse_options_header(headers.get(b"content-disposition", b"").decode("latin-1"))
            name = opts.get(b"name", b"").decode("utf-8", "replace")
            if name == "file":
                if writer is not None:
                    raise UploadRejected(400, "send exactly one 'file' part")
                if b"filename" not in opts:
                    raise UploadRejected(400, "the 'file' part has no filename; the file name's extension "
                                              "tells the container")
                filename = opts[b"filename"].decode("utf-8", "replace")
                ext = extension_of(filename)
                writer = S3MultipartWriter(s3, bucket, key_for(ext), CONTENT_TYPES[ext], part_size)
                part = "file"
            else:
                part = name
        elif kind == "data":
            if part == "file":
                if max_bytes is not None and writer.size + len(data) > max_bytes:
                    raise UploadRejected(413, f"the file is larger than {max_bytes} bytes, the largest master "
                                              "accepted (VODFLOW_UPLOAD_MAX_BYTES); nothing was stored")
                await writer.write(data)
            elif part is not None:
                field_buf += data
                if len(field_buf) > MAX_FIELD_BYTES:
                    raise UploadRejected(413, f"form field {part!r} is larger than {MAX_FIELD_BYTES} bytes")
        elif kind == "part_end":
            if part == "file":
                file_done = True
            elif part:
                try:
                    fields[part] = field_buf.decode("utf-8")
                except UnicodeDecodeError:
                    raise UploadRejected(400, f"form field {part!r} is not UTF-8") from None
            part = None
        elif kind == "end":
            ended = True

    try:
        async for chunk in stream:
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except Exception as e:  # noqa: BLE001 - python-multipart raises MultipartParseError & co
                raise UploadRejected(400, f"malformed multipart body: {e}") from e
            items, events.items = events.items, []
            for kind, data in items:
                await handle(kind, data)
        parser.finalize()
        for kind, data in events.items:
            await handle(kind, data)
        if writer is None:
            raise UploadRejected(400, "the form has no 'file' part")
        if not ended or not file_done:
            raise UploadRejected(400, "the request body ended before the upload was complete "
                                      "(connection dropped or malformed multipart body)")
        if writer.size == 0:
            raise UploadRejected(400, f"the file {filename!r} is empty")
        validate_fields(fields)
        await writer.complete()
    except BaseException:
        if writer is not None:
            await writer.abort()
        raise
    return ReceivedUpload(fields, filename, ext, writer.key, writer.content_type, writer.size, writer)


async def drain(stream: AsyncIterator[bytes], limit: int = DRAIN_LIMIT) -> None:
    """Read and discard what is left of a refused body (up to ``limit``), so the client can read the answer."""
    seen = 0
    try:
        async for chunk in stream:
            seen += len(chunk)
            if seen > limit:
                return
    except Exception:  # noqa: BLE001 - client gone: nothing to answer anyway
        return
