"""Read the catalog through the API, for command-line clients: ``GET /videos`` and ``GET /videos/{id}``.

Used by ``vodflow videos``, ``vodflow upload --wait``, ``vodflow events simulate`` (the catalog's
ready titles and their true durations) and ``vodflow demo``. Catalog reads are public (no token:
ready titles in the public view, vodflow/catalog/views.py), so these work from any machine that
reaches the API; with an admin's ``token`` they see every status and the full row (the failure
reason, ingest attempts), and the analytics package can use them
without importing the API or the catalog database (lower layers never reach up; the catalog DB
may be Postgres on another host).

Sources of the fields: ``duration_s`` is the master's probed duration the ingest stored in
``source_props["duration"]`` (vodflow/media/probe.py); ``rungs`` the published renditions' names;
``reason`` the catalog's ``error`` (the plain reason a title failed). Errors carry a plain message
naming the fix (:class:`CatalogUnavailable`, :class:`NoReadyTitles`, :class:`UnknownVideo`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

PAGE = 1000                          # the API's largest ``limit``
FINAL_STATES = ("ready", "failed")
START_HINT = "start it with `vodflow up` (or `vodflow api`)"


class CatalogUnavailable(RuntimeError):
    """The API could not be reached or answered with an error."""


class UnknownVideo(LookupError):
    """No title with that id in the catalog."""


class NoReadyTitles(RuntimeError):
    """The catalog has no ready title (nothing to watch yet)."""


@dataclass(frozen=True)
class Title:
    """One catalog row as the CLI shows it."""

    id: str
    title: str
    status: str
    duration_s: Optional[float] = None
    rungs: list[str] = field(default_factory=list)
    reason: Optional[str] = None

    @classmethod
    def of(cls, rec: dict[str, Any]) -> Title:
        props = rec.get("source_props") or {}
        dur = props.get("duration")
        return cls(rec["id"], rec.get("title") or "", rec.get("status") or "?",
                   float(dur) if isinstance(dur, (int, float)) and dur > 0 else None,
                   [r["name"] for r in rec.get("renditions") or []], rec.get("error"))


def _get(api_url: str, path: str, client=None, timeout: float = 30.0, token: str | None = None, **params: Any):
    import httpx

    url = api_url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        if client is not None:
            return client.get(path, params=params or None, headers=headers)
        return httpx.get(url, params=params or None, timeout=timeout, headers=headers)
    except httpx.HTTPError as e:
        raise CatalogUnavailable(f"the vodflow API is not reachable at {api_url} ({type(e).__name__}: {e}); "
                                 f"{START_HINT}") from e


def _json(r, what: str) -> Any:
    if r.status_code != 200:
        raise CatalogUnavailable(f"{what} answered HTTP {r.status_code}: {r.text[:300]}; "
                                 "check `vodflow status` and `vodflow logs api`")
    return r.json()


def list_videos(api_url: str, status: str | None = None, *, client=None,
                token: str | None = None) -> list[dict[str, Any]]:
    """Every catalog row (newest first), optionally of one status, page by page (other statuses than
    ``ready`` need an admin's ``token``)."""
    out: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": PAGE, "offset": len(out)}
        if status:
            params["status"] = status
        body = _json(_get(api_url, "/videos", client, token=token, **params), "GET /videos")
        out.extend(body["videos"])
        if body["count"] < PAGE:
            return out


def get_video(api_url: str, video_id: str, *, client=None, token: str | None = None) -> dict[str, Any]:
    """One catalog row with its renditions; :class:`UnknownVideo` if there is none."""
    r = _get(api_url, f"/videos/{video_id}", client, token=token)
    if r.status_code == 404:
        raise UnknownVideo(f"no video with id {video_id!r} in the catalog at {api_url}; "
                           "`vodflow videos` lists the titles")
    return _json(r, f"GET /videos/{video_id}")


def ready_titles(api_url: str, *, client=None) -> list[Title]:
    """The ready titles with a known duration, newest first; :class:`NoReadyTitles` if there is none."""
    titles = [t for t in map(Title.of, list_videos(api_url, "ready", client=client)) if t.duration_s]
    if not titles:
        raise NoReadyTitles(f"the catalog at {api_url} has no ready title yet: upload one "
                            "(`vodflow upload FILE --title T --wait`, or `vodflow demo`), or pass ids with "
                            "--video-ids")
    return titles


def follow(api_url: str, video_id: str, *, timeout: float = 900, poll: float = 2.0,
           on_status: Callable[[str], None] | None = None, client=None, token: str | None = None) -> dict[str, Any]:
    """Poll ``GET /videos/{id}`` until the title is ready or failed; returns its last row.

    ``on_status(status)`` is called on every change. Raises :class:`TimeoutError` (with the last
    status) when neither state is reached within ``timeout`` seconds.
    """
    deadline, last = time.monotonic() + timeout, None
    while True:
        rec = get_video(api_url, video_id, client=client, token=token)
        if rec["status"] != last:
            last = rec["status"]
            if on_status:
                on_status(last)
        if last in FINAL_STATES:
            return rec
        if time.monotonic() > deadline:
            raise TimeoutError(f"video {video_id} is still {last!r} after {timeout:.0f}s; follow it with "
                               f"`vodflow videos show {video_id}` and `vodflow logs airflow-scheduler`")
        time.sleep(poll)
