"""Helpers of the analytics tests: valid raw events to start from."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone


def make_event(type_: str = "video_progress", **over):
    """A valid raw event (dict) of ``type_``; keyword arguments replace or add fields."""
    ev = {"schema_version": 1, "type": type_, "event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()),
          "user_id": "user-1", "video_id": str(uuid.uuid4()),
          "client_ts": datetime.now(timezone.utc).isoformat(), "position_s": 12.5, "rung": "720p",
          "device": "web", "country": "FR"}
    ev.update({"video_progress": {"played_s": 10.0},
               "video_seek": {"from_position_s": 12.5, "to_position_s": 300.0},
               "startup": {"startup_ms": 850},
               "rebuffer_end": {"duration_ms": 1200},
               "bitrate_switch": {"from_rung": "480p", "to_rung": "720p"}}.get(type_, {}))
    ev.update(over)
    return ev
