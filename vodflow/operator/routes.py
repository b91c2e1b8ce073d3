"""The operator pages and their JSON, as a FastAPI router (served inside Airflow by plugins/vodflow_operator.py).

``GET /``                           every title: status, reason, ladder, links (``?status=failed``)
``GET /titles/{id}``                one title: reason, ladder table + rate-quality plot, QoE, links, retry
``GET /titles/{id}/rate_quality.png`` the title's published plot (from the origin bucket)
``POST /titles/{id}/retry``         start a new ``video_ingest`` run (303 back to the title's page)
``GET /api/titles``, ``GET /api/titles/{id}``  the same rows as JSON (operator view: full rows)

Who may call what: the rows are the catalog's operator view (vodflow/catalog/views.py), so the
router takes the guards from its host: ``read`` for every route, ``write`` for the retry. Inside
Airflow these are Airflow's own permission checks on the ``video_ingest`` DAG's runs (read / trigger),
so the page is exactly as private as that DAG's runs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vodflow.catalog import Catalog, VideoNotFound, VideoStatus
from vodflow.operator import page, titles
from vodflow.settings import Settings


def create_router(s: Settings, catalog: Callable[[], Catalog], *, read: Sequence[Any] = (),
                  write: Sequence[Any] = ()) -> APIRouter:
    """The operator routes over ``catalog()`` (a :class:`Catalog`); ``read``/``write`` are FastAPI
    dependencies (``Depends(...)``) guarding them. Retries go through Airflow's REST API with
    :class:`vodflow.airflow_client.AirflowClient` for ``s`` (the admin of ``VODFLOW_AIRFLOW_ADMIN_*``)."""
    router = APIRouter(dependencies=list(read))

    async def on_catalog(fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(catalog, ...)`` off the event loop (the first use opens the catalog and runs its migrations)."""
        return await run_in_threadpool(lambda: fn(catalog(), *args))

    async def one(video_id: str) -> dict[str, Any]:
        try:
            return await on_catalog(titles.get_title, s, video_id)
        except VideoNotFound:
            raise HTTPException(404, f"no video with id {video_id!r} in the catalog") from None

    def status_of(status: Optional[str]) -> Optional[str]:
        if status and status not in {v.value for v in VideoStatus}:
            raise HTTPException(422, f"unknown status {status!r}: one of {', '.join(v.value for v in VideoStatus)}")
        return status or None

    @router.get("/", response_class=HTMLResponse, summary="Titles (operator view)")
    async def list_html(status: Optional[str] = None, limit: int = Query(200, ge=1, le=1000)):
        st = status_of(status)
        rows = await on_catalog(titles.list_titles, s, st, limit)
        return HTMLResponse(page.list_page(rows, st))

    @router.get("/api/titles", summary="Titles as JSON (operator view)")
    async def list_json(status: Optional[str] = None, limit: int = Query(200, ge=1, le=1000),
                        offset: int = Query(0, ge=0)):
        rows = await on_catalog(titles.list_titles, s, status_of(status), limit, offset)
        return {"titles": rows, "count": len(rows), "limit": limit, "offset": offset}

    @router.get("/api/titles/{video_id}", summary="One title with its QoE as JSON (operator view)")
    async def one_json(video_id: str):
        row = await one(video_id)
        return {**row, "qoe": await run_in_threadpool(titles.title_qoe, video_id, s)}

    @router.get("/titles/{video_id}", response_class=HTMLResponse, name="title_page")
    async def title_html(video_id: str, message: str = ""):
        row = await one(video_id)
        qoe = await run_in_threadpool(titles.title_qoe, video_id, s)
        return HTMLResponse(page.title_page(row, qoe, message))

    @router.get("/titles/{video_id}/rate_quality.png", summary="The title's rate-quality plot")
    async def plot(video_id: str):
        try:
            png = await on_catalog(titles.rate_quality_png, s, video_id)
        except VideoNotFound:
            raise HTTPException(404, f"no video with id {video_id!r} in the catalog") from None
        except titles.PlotMissing as e:
            raise HTTPException(404, str(e)) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    @router.post("/titles/{video_id}/retry", dependencies=list(write), summary="Start a new video_ingest run")
    async def retry(video_id: str, request: Request):
        from vodflow.airflow_client import AirflowClient, AirflowError

        await one(video_id)
        af = AirflowClient(s, timeout=30)
        try:
            run = await on_catalog(titles.retry_ingest, video_id, af)
            msg = f"started video_ingest run {run.get('dag_run_id')} ({run.get('state')})"
        except titles.RetryRefused as e:
            msg = str(e)
        except AirflowError as e:
            msg = f"Airflow refused the run: {e}"
        finally:
            af.http.close()
        url = request.url_for("title_page", video_id=video_id).include_query_params(message=msg)
        return RedirectResponse(str(url), status_code=303)

    return router
