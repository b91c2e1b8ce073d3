"""The vodflow HTTP API: upload masters and read the catalog.

``app`` is built from the process settings (``uvicorn vodflow.api.app:app``);
``create_app(settings)`` builds one for other settings (tests, other deployments).

Endpoints
---------
``POST /videos``               multipart (``title``, ``file``, optional ``regions`` "US,CA"):
                               stream the file to S3, create the catalog row, publish the
                               ingest request; 201 ``{"video_id", "status", "status_url"}``.
``GET /videos/{id}``           the title with renditions (404 if unknown): the public view without a
                               token, the full row (error, master key, probe, run id) with an admin's
                               (vodflow/catalog/views.py).
``GET /videos``                list, newest first (``?status=ready&limit=100&offset=0``); without an
                               admin's token only ready titles (public view), other statuses 403.
``POST /videos/{id}/ingest``   re-publish the ingest request of a ``failed``/``uploaded`` video
                               whose master is stored (recovery after a Kafka outage); 202.
``GET /healthz``               liveness + catalog check.
``GET /users/{id}/recommendations``, ``GET /videos/{id}/similar``: see vodflow/recs/routes.py.
``POST /auth/login``, ``GET /me``: vodflow/auth/routes.py; ``GET /videos/{id}/play``: vodflow/playback/routes.py.

Who may call what (docs/playback.md, "Accounts, tokens and /play"; docs/security.md): uploads and
re-queues need an admin's access token (``Authorization: Bearer``); the catalog reads (``GET /videos``,
``GET /videos/{id}``) stay public -- they are the storefront, show no user data, and the media
itself is only reachable through signed edge URLs from ``/play``. A public answer never carries a
filesystem path, a master's object key, an internal id or an error text (the public view); uploads
larger than ``VODFLOW_UPLOAD_MAX_BYTES`` are refused (413) before anything is stored.

Failure handling (see docs/ingest-api.md): S3 down -> 503, the multipart upload is aborted and
no row is written; catalog down -> 503 and the stored object is deleted; Kafka down -> 503, the
master is kept and the row is marked ``failed`` with the reason (retry with
``POST /videos/{id}/ingest``). A catalog row therefore never points at a missing object.
"""

from __future__ import annotations

import gc
import logging
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from vodflow.api.ingest_request import DEFAULT_TIMEOUT, IngestPublisher, IngestPublishError, IngestRequest
from vodflow.api.upload import (ALLOWED_EXTENSIONS, PART_SIZE, StorageUnavailable, UploadRejected, drain,
                                receive_upload)
from vodflow.auth.deps import Auth, Principal
from vodflow.catalog import (Catalog, CatalogError, IllegalTransition, InvalidCatalogData, VideoNotFound,
                             VideoStatus, normalize_regions)
from vodflow.catalog.repository import MAX_TITLE
from vodflow.catalog.views import video_view
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.api")

UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["title", "file"],
            "properties": {
                "title": {"type": "string", "maxLength": MAX_TITLE},
                "regions": {"type": "string", "description": "comma-separated ISO 3166-1 alpha-2 codes; "
                                                             "empty = worldwide", "example": "US,CA"},
                "file": {"type": "string", "format": "binary",
                         "description": f"the master; extension one of {', '.join(ALLOWED_EXTENSIONS)}"},
            }}}},
    },
    "responses": {"201": {"description": "stored and queued for ingest"},
                  "400": {"description": "empty file or malformed body"},
                  "401": {"description": "no valid access token"},
                  "403": {"description": "the caller is not an admin"},
                  "413": {"description": "larger than VODFLOW_UPLOAD_MAX_BYTES (nothing is stored)"},
                  "415": {"description": "unsupported file type"},
                  "422": {"description": "bad title or regions"},
                  "503": {"description": "S3, Kafka or the catalog is unavailable"}},
}


FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and text fields on top of the file, for the Content-Length check


def master_key(video_id: str, ext: str) -> str:
    """S3 key of a video's master in the masters bucket."""
    return f"masters/{video_id}/original.{ext}"


def _status_url(video_id: str) -> str:
    return f"/videos/{video_id}"


def _unavailable(detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=503, headers={"Retry-After": "30"})


def create_app(settings: Settings | None = None, *, kafka_timeout: float = DEFAULT_TIMEOUT,
               s3_timeout: float = 10.0, part_size: int = PART_SIZE) -> FastAPI:
    """The API for ``settings`` (default: the process settings). No service is contacted until startup."""
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from vodflow.clients import s3_client

        # Migrations run here (once per process and URL), not per request.
        app.state.catalog = await run_in_threadpool(Catalog, s.catalog_db_url)
        app.state.s3 = s3_client(s, timeout=s3_timeout)
        app.state.publisher = IngestPublisher(s, timeout=kafka_timeout)
        # The ~110,000 objects of the imports and startup never die: move them out of the collector's
        # generations, so a full collection (~50 ms of CPU with them, measured on this machine) does not stall
        # whichever request triggers it -- a p99 spike of /play at 1,000 requests/s.
        gc.freeze()
        try:
            yield
        finally:
            await run_in_threadpool(app.state.publisher.close)

    app = FastAPI(title="vodflow API", version="1", lifespan=lifespan,
                  description="Upload video masters and read the catalog.")
    app.state.settings = s
    auth = app.state.auth = Auth(s)
    admin = [Depends(auth.require_admin)]
    max_upload = int(s["VODFLOW_UPLOAD_MAX_BYTES"])
    # /play first: the hottest route is matched first (Starlette tries the routes in order)
    from vodflow.playback.routes import create_router as create_play_router

    app.include_router(create_play_router(s, auth))
    from vodflow.auth.routes import create_router as create_auth_router

    app.include_router(create_auth_router(s, auth))
    from vodflow.analytics.routes import create_router as create_events_router

    app.include_router(create_events_router(s, kafka_timeout=kafka_timeout, auth=auth))
    from vodflow.recs.routes import create_router as create_recs_router

    app.include_router(create_recs_router(s, auth=auth))
    from vodflow.drm.routes import create_router as create_license_router  # POST /license/clearkey

    app.include_router(create_license_router(s))

    from vodflow.cdn.routes import create_router as create_edge_router  # GET /edge/verify (nginx auth_request)

    app.include_router(create_edge_router(s))
    from vodflow.web import create_router as create_web_router  # pages, /static/, /web/catalog

    app.include_router(create_web_router(s))

    def catalog(request: Request) -> Catalog:
        return request.app.state.catalog

    # ------------------------------------------------------------------ upload
    @app.post("/videos", status_code=201, openapi_extra=UPLOAD_OPENAPI, summary="Upload a master (admin)",
              dependencies=admin)
    async def upload_video(request: Request):
        video_id = str(uuid.uuid4())
        s3 = request.app.state.s3
        cat = catalog(request)
        bucket = s.bucket_masters
        stream = request.stream()
        parsed: dict[str, Any] = {}
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload + FORM_OVERHEAD:
            await drain(stream)
            return JSONResponse({"detail": f"the upload is {int(declared)} bytes; the largest master accepted is "
                                           f"{max_upload} bytes (VODFLOW_UPLOAD_MAX_BYTES). Nothing was stored"},
                                status_code=413)

        def validate_fields(fields: dict[str, str]) -> None:
            title = fields.get("title", "").strip()
            if not title:
                raise UploadRejected(422, "the form field 'title' is missing or empty")
            if len(title) > MAX_TITLE:
                raise UploadRejected(422, f"the title is longer than {MAX_TITLE} characters")
            try:
                parsed["regions"] = normalize_regions(fields.get("regions", ""))
            except InvalidCatalogData as e:
                raise UploadRejected(422, f"regions: {e}") from None
            parsed["title"] = title

        try:
            up = await receive_upload(stream, request.headers.get("content-type"), s3=s3, bucket=bucket,
                                      key_for=lambda ext: master_key(video_id, ext),
                                      validate_fields=validate_fields, part_size=part_size,
                                      max_bytes=max_upload)
        except UploadRejected as e:
            await drain(stream)
            return JSONResponse({"detail": e.detail}, status_code=e.status_code)
        except StorageUnavailable as e:
            log.error("upload %s: %s", video_id, e)
            await drain(stream)
            return _unavailable(f"{e}; nothing was stored, retry the upload later")
        except ClientDisconnect:
            log.warning("upload %s: client disconnected; multipart upload aborted", video_id)
            return JSONResponse({"detail": "client disconnected"}, status_code=400)

        # The object is complete. Record it; if the catalog fails, remove the object again.
        try:
            rec = await run_in_threadpool(cat.create_video, parsed["title"], up.key, parsed["regions"],
                                          video_id=video_id)
        except Exception as e:  # noqa: BLE001
            log.error("upload %s: catalog insert failed (%s); deleting s3://%s/%s", video_id, e, bucket, up.key)
            try:
                await run_in_threadpool(s3.delete_object, Bucket=bucket, Key=up.key)
            except Exception as e2:  # noqa: BLE001
                log.error("upload %s: could not delete s3://%s/%s: %s", video_id, bucket, up.key, e2)
            return _unavailable(f"the catalog is unavailable ({type(e).__name__}: {e}); nothing was stored, "
                                "retry the upload later")

        # Queue the ingest. If Kafka does not ack, keep the master and mark the row failed with the reason.
        try:
            meta = await run_in_threadpool(
                request.app.state.publisher.publish,
                IngestRequest(video_id=video_id, source_key=up.key, title=rec.title))
        except IngestPublishError as e:
            reason = (f"{e}. The master is stored at s3://{bucket}/{up.key}; "
                      f"retry with POST /videos/{video_id}/ingest")
            log.error("upload %s: %s", video_id, reason)
            try:
                await run_in_threadpool(cat.mark_failed, video_id, reason)
            except Exception as e2:  # noqa: BLE001 - row stays 'uploaded' and its object exists
                log.error("upload %s: could not mark the video failed: %s", video_id, e2)
            return _unavailable(reason, video_id=video_id, status=VideoStatus.FAILED.value,
                                status_url=_status_url(video_id), retry_url=f"/videos/{video_id}/ingest")
        log.info("upload %s: %d bytes at s3://%s/%s, ingest request at %s[%d]@%d", video_id, up.size, bucket,
                 up.key, meta.topic, meta.partition, meta.offset)
        return JSONResponse({"video_id": video_id, "status": rec.status.value, "status_url": _status_url(video_id),
                             "source_key": up.key, "size": up.size},
                            status_code=201, headers={"Location": _status_url(video_id)})

    # ------------------------------------------------------------------ re-publish
    @app.post("/videos/{video_id}/ingest", status_code=202, summary="Re-publish a lost ingest request (admin)",
              dependencies=admin)
    async def retry_ingest(video_id: str, request: Request):
        cat = catalog(request)
        s3 = request.app.state.s3
        try:
            rec = await run_in_threadpool(cat.get_video, video_id)
        except VideoNotFound as e:
            raise HTTPException(404, str(e)) from None
        if rec.status not in (VideoStatus.FAILED, VideoStatus.UPLOADED):
            raise HTTPException(409, f"video {video_id} is {rec.status.value!r}; only an 'uploaded' or 'failed' "
                                     "video can be queued for ingest again")
        try:
            await run_in_threadpool(s3.head_object, Bucket=s.bucket_masters, Key=rec.source_key)
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise HTTPException(409, f"the master s3://{s.bucket_masters}/{rec.source_key} is missing; "
                                         "upload the video again") from None
            return _unavailable(f"object store unavailable: checking s3://{s.bucket_masters}/{rec.source_key} "
                                f"failed ({type(e).__name__}: {e})")
        try:
            if rec.status is VideoStatus.FAILED:
                rec = await run_in_threadpool(cat.requeue, video_id)
        except IllegalTransition as e:
            raise HTTPException(409, str(e)) from None
        try:
            await run_in_threadpool(request.app.state.publisher.publish,
                                    IngestRequest(video_id=video_id, source_key=rec.source_key, title=rec.title))
        except IngestPublishError as e:
            await run_in_threadpool(cat.mark_failed, video_id, f"{e}; retry with POST /videos/{video_id}/ingest")
            return _unavailable(str(e), video_id=video_id, status=VideoStatus.FAILED.value)
        return {"video_id": video_id, "status": rec.status.value, "status_url": _status_url(video_id)}

    # ------------------------------------------------------------------ reads
    def is_operator(p: Principal | None) -> bool:
        return p is not None and p.is_admin

    @app.get("/videos/{video_id}", summary="A video with its renditions (full row for an admin)")
    async def get_video(video_id: str, request: Request, p: Principal | None = Depends(auth.optional_principal)):
        try:
            rec = await run_in_threadpool(catalog(request).get_video, video_id)
        except VideoNotFound:
            raise HTTPException(404, f"no video with id {video_id!r}; GET /videos lists the titles") from None
        return video_view(rec, is_operator(p))

    @app.get("/videos", summary="Videos, newest first (viewers: ready titles only)")
    async def list_videos(request: Request, status: VideoStatus | None = None,
                          limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                          p: Principal | None = Depends(auth.optional_principal)):
        operator = is_operator(p)
        if not operator:
            if status not in (None, VideoStatus.READY):
                raise HTTPException(403, f"listing {status.value!r} videos needs an admin's access token; "
                                         "without one GET /videos lists the ready titles")
            status = VideoStatus.READY
        recs = await run_in_threadpool(catalog(request).list_videos, status, limit=limit, offset=offset)
        return {"videos": [video_view(r, operator) for r in recs], "count": len(recs), "limit": limit,
                "offset": offset}

    @app.get("/healthz", summary="Liveness and catalog check")
    async def healthz(request: Request):
        try:
            await run_in_threadpool(catalog(request).ping)
        except Exception as e:  # noqa: BLE001 - the reason goes to the log, not to the (public) answer
            log.error("healthz: catalog check failed: %s: %s", type(e).__name__, e)
            return JSONResponse({"status": "unhealthy", "catalog": "unavailable (see the API log)"},
                                status_code=503)
        return {"status": "ok", "catalog": "ok"}

    @app.exception_handler(CatalogError)
    async def _catalog_error(request: Request, exc: CatalogError):
        code = 404 if isinstance(exc, VideoNotFound) else 409 if isinstance(exc, IllegalTransition) else 422
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # never a stack trace or an exception text (paths, keys, SQL) in an answer: those go to the log
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged by the API)"}, status_code=500)

    return app


app = create_app()
