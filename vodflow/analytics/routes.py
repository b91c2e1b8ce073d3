"""``POST /events``: player events in, validated, produced to Kafka (durable before the answer).

:func:`create_router` (included by ``vodflow.api.app``); one shared producer per app
(:class:`vodflow.analytics.producer.EventProducer`: acks=all, batching, gzip), created on first use,
rebuilt after a failure, closed by the router's lifespan. Next: a per-client rate limit; metrics
(accepted/rejected counters) once the API has a metrics endpoint.

Authentication: an access token (``Authorization: Bearer``, ``vodflow.auth``) is required (401
otherwise). A viewer may post only its own events: if any event's ``user_id`` differs from the
token's subject the whole request is refused with 403 and nothing is produced (the index of the
first foreign event is named). Admins and ``service`` tokens (a trusted gateway, the simulator)
may post for any user.

Request body: one event object, or ``{"events": [event, ...]}`` with 1..:data:`MAX_BATCH` events
(body at most :data:`MAX_BODY_BYTES`). Answers:

=====  ==========================================================================================
200    ``{"accepted": n, "rejected": [...]}`` -- at least one event was valid; every accepted event
       is acknowledged by Kafka (acks=all) before this answer. ``rejected`` lists the invalid ones:
       ``{"index": i, "event_id": ... or null, "reason": "...", "errors": [{"field", "reason"}]}``
       (``index`` is 0 for a single event). Rejected events never reach the topic; resending them
       unchanged is pointless.
400    the body is not JSON.
401    no valid access token (log in at ``POST /auth/login``).
403    an event's ``user_id`` is not the authenticated user's (viewers post only their own events).
413    more than MAX_BATCH events, or a body larger than MAX_BODY_BYTES.
422    nothing valid: same body as 200 with ``accepted: 0``; or the body is neither an event nor
       ``{"events": [...]}`` (``{"detail": ...}``).
503    Kafka did not acknowledge (down, timeout): ``{"detail": ..., "accepted": 0}`` and
       ``Retry-After``. Some events of the batch may still have been written; the client resends the
       whole batch with the same event_ids and the silver table drops the duplicates.
=====  ==========================================================================================

Each valid event gets ``server_ts`` (receipt time, UTC) and is produced to ``settings.topic_events``
keyed by ``session_id`` (one session stays in one partition, in order).
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vodflow.analytics.events import BaseEvent, EventValidationError, validate_event
from vodflow.analytics.producer import DEFAULT_KAFKA_TIMEOUT, EventProducer, EventsUnavailable
from vodflow.auth.deps import Auth, Principal
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.analytics.ingest")

MAX_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024


def _shape(body: Any) -> tuple[list[Any], bool] | str:
    """(events, is_batch) or an error text."""
    if isinstance(body, dict) and "events" in body and "type" not in body:
        extra = set(body) - {"events"}
        if extra:
            return f"a batch has only the key 'events'; unexpected: {', '.join(sorted(extra))}"
        if not isinstance(body["events"], list):
            return "'events' must be a JSON array of events"
        if not body["events"]:
            return "'events' is empty"
        return body["events"], True
    if isinstance(body, dict):
        return [body], False
    return "the body must be one event (a JSON object with 'type') or {\"events\": [...]}"


def foreign_event(principal: Principal, items: list[Any]) -> str | None:
    """Why the caller may not post ``items`` (the first event of another user), or None."""
    if principal.is_admin or principal.is_service:
        return None
    for i, item in enumerate(items):
        uid = item.get("user_id") if isinstance(item, dict) else None
        if isinstance(uid, str) and uid != principal.id:
            return (f"event {i} has user_id {uid!r}, but you are logged in as {principal.id!r}: post only your "
                    "own events (user_id = the id of GET /me); nothing of this request was accepted")
    return None


def create_router(settings: Settings | None = None, *, kafka_timeout: float = DEFAULT_KAFKA_TIMEOUT,
                  max_batch: int = MAX_BATCH, max_body_bytes: int = MAX_BODY_BYTES,
                  auth: Auth | None = None) -> APIRouter:
    """The ``/events`` router. Its producer lives in ``app.state.event_producer`` (closed on shutdown)."""
    s = settings or get_settings()
    auth = auth or Auth(s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        producer = getattr(app.state, "event_producer", None)
        if producer is not None:
            await run_in_threadpool(producer.close)

    router = APIRouter(tags=["analytics"], lifespan=lifespan)
    state_lock = threading.Lock()

    def producer_of(request: Request) -> EventProducer:
        st = request.app.state
        with state_lock:
            if getattr(st, "event_producer", None) is None:
                st.event_producer = EventProducer(s, timeout=kafka_timeout)
            return st.event_producer

    @router.post("/events", summary="Ingest player events (one, or a batch)", responses={
        200: {"description": "some or all accepted; `rejected` lists the invalid ones"},
        400: {"description": "the body is not JSON"},
        401: {"description": "no valid access token"},
        403: {"description": "an event of another user (viewers post only their own)"},
        413: {"description": f"more than {max_batch} events or a body over {max_body_bytes} bytes"},
        422: {"description": "no valid event"},
        503: {"description": "Kafka did not acknowledge; resend the batch"}})
    async def post_events(request: Request, principal: Principal = Depends(auth.principal)):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse({"detail": f"the body is larger than {max_body_bytes} bytes"}, status_code=413)
        raw = await request.body()
        if len(raw) > max_body_bytes:
            return JSONResponse({"detail": f"the body is larger than {max_body_bytes} bytes"}, status_code=413)
        try:
            body = json.loads(raw)
        except ValueError as e:
            return JSONResponse({"detail": f"the body is not valid JSON ({e})"}, status_code=400)
        shaped = _shape(body)
        if isinstance(shaped, str):
            return JSONResponse({"detail": shaped}, status_code=422)
        items, _ = shaped
        if len(items) > max_batch:
            return JSONResponse({"detail": f"{len(items)} events in one batch; at most {max_batch}"},
                                status_code=413)
        foreign = foreign_event(principal, items)
        if foreign:
            return JSONResponse({"detail": foreign}, status_code=403)

        now = datetime.now(timezone.utc)
        valid: list[BaseEvent] = []
        rejected: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            try:
                valid.append(validate_event(item, now=now, stamp=True))
            except EventValidationError as e:
                eid = item.get("event_id") if isinstance(item, dict) else None
                rejected.append({"index": i, "event_id": eid if isinstance(eid, str) else None,
                                 "reason": e.reason, "errors": e.errors})
        if not valid:
            return JSONResponse({"accepted": 0, "rejected": rejected}, status_code=422)
        try:
            n = await run_in_threadpool(producer_of(request).publish, valid)
        except EventsUnavailable as e:
            log.error("%s", e)
            return JSONResponse({"detail": str(e), "accepted": 0}, status_code=503, headers={"Retry-After": "10"})
        if rejected:
            log.info("events: %d accepted, %d rejected (first: %s)", n, len(rejected), rejected[0]["reason"])
        return {"accepted": n, "rejected": rejected}

    return router
