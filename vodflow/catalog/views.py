"""What a catalog row shows to whom: the public (viewer) view and the operator view.

Rules (issue 17, docs/security.md):

* A response a viewer can reach carries no filesystem path, no object key of a master (the
  ``masters`` bucket), no internal id (Airflow run ids, ingest attempts) and no error text (error
  texts quote paths and keys). The public view is therefore a *whitelist*: a field that is added to
  the catalog later stays operator-only until it is listed here.
* Published objects (manifests, renditions' playlists, posters, storyboard) are public names under
  ``videos/<id>/`` on the edge; they are only readable with a signed URL, so they stay in the view
  (the player needs them).
* Of the master's probe (``source_props``, vodflow/media/probe.py) only media facts a storefront
  shows stay: duration, picture size, frame rate, codecs. ``path``, ``size_bytes``, ``tags``
  (free text from the uploader's file) and the ladder analysis are operator-only.
* The operator view (an admin's token) is the full row (:meth:`VideoRecord.to_dict`).

Pure functions over :class:`~vodflow.catalog.repository.VideoRecord`; the API picks the view.
"""

from __future__ import annotations

from typing import Any

from vodflow.catalog.repository import VideoRecord

PUBLIC_FIELDS = ("id", "title", "status", "regions", "thumbnails", "renditions", "manifests",
                 "created_at", "updated_at", "ready_at")
PUBLIC_SOURCE_PROPS = ("duration", "width", "height", "display_width", "display_height", "rotation", "fps",
                       "video_codec", "audio_codec", "audio_channels", "has_audio")


def public_video(rec: VideoRecord) -> dict[str, Any]:
    """The row as any viewer may see it (see the module docstring)."""
    full = rec.to_dict()
    out = {k: full[k] for k in PUBLIC_FIELDS}
    props = rec.source_props or {}
    out["source_props"] = {k: props[k] for k in PUBLIC_SOURCE_PROPS if k in props}
    out["duration_s"] = props.get("duration")
    return out


def operator_video(rec: VideoRecord) -> dict[str, Any]:
    """The full row (errors, master key, probe, run id): for an operator's token only."""
    out = rec.to_dict()
    out["duration_s"] = (rec.source_props or {}).get("duration")
    return out


def video_view(rec: VideoRecord, operator: bool) -> dict[str, Any]:
    return operator_video(rec) if operator else public_video(rec)
