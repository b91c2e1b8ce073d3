"""Player events, schema_version 1: pydantic v2 models, a discriminated union on ``type``, validation.

Status: done -- the models, the validation rules with a clear reason per field
(:func:`validate_event` raises :class:`EventValidationError` whose ``errors`` are
``[{"field": ..., "reason": ...}]``), the JSON wire form (:meth:`BaseEvent.to_kafka`).
Next: nothing required here; a schema_version 2 would add a new module-level union and keep
accepting 1 (see ``docs/analytics-events.md``, "Versioning").

Wire format (one JSON object per event; the full field table is in ``docs/analytics-events.md``)::

    {"schema_version": 1, "type": "video_progress",
     "event_id": "6f1c...", "session_id": "0b2e...", "user_id": "u-123", "video_id": "9d0a...",
     "client_ts": "2025-01-01T12:00:10.250+00:00", "position_s": 10.0, "rung": "720p",
     "device": "web", "country": "FR", "played_s": 10.0}

``server_ts`` is set by the ingest API on receipt (a client-sent value is overwritten).
Rules checked here: UUIDs (event/session/video), known ``type`` and ``schema_version``,
timezone-aware ``client_ts`` not more than :data:`MAX_CLIENT_AHEAD` ahead of the server clock
and not older than :data:`MAX_CLIENT_AGE`, non-negative ``position_s`` (at most
:data:`MAX_POSITION_S`), a known ``device``, an ISO 3166-1 alpha-2 ``country``, a rung name,
per-type fields (``startup_ms``, ``duration_ms``, seek positions, ``from_rung != to_rung``) and
no unknown fields (a typo such as ``postion_s`` is an error, not silently dropped).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo,
                      field_validator, model_validator)

SCHEMA_VERSION = 1
SCHEMA = f"vodflow.video_event/{SCHEMA_VERSION}"
MAX_CLIENT_AHEAD = timedelta(minutes=5)   # client clock skew tolerated into the future
MAX_CLIENT_AGE = timedelta(days=7)        # offline playback uploaded later than this is refused
MAX_POSITION_S = 24 * 3600.0              # no title is longer than a day
MAX_STARTUP_MS = 10 * 60 * 1000
MAX_REBUFFER_MS = 60 * 60 * 1000
PROGRESS_INTERVAL_S = 10.0

_RUNG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


class EventType(str, Enum):
    VIDEO_STARTED = "video_started"
    VIDEO_PROGRESS = "video_progress"
    VIDEO_PAUSED = "video_paused"
    VIDEO_SEEK = "video_seek"
    VIDEO_COMPLETED = "video_completed"
    STARTUP = "startup"
    REBUFFER_START = "rebuffer_start"
    REBUFFER_END = "rebuffer_end"
    BITRATE_SWITCH = "bitrate_switch"


class Device(str, Enum):
    WEB = "web"
    IOS = "ios"
    ANDROID = "android"
    TV = "tv"
    OTHER = "other"


EVENT_TYPES = [t.value for t in EventType]
DEVICES = [d.value for d in Device]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _uuid(v: Any, what: str) -> str:
    if isinstance(v, uuid.UUID):
        return str(v)
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a UUID string, got {type(v).__name__}")
    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise ValueError(f"{what} {v[:64]!r} is not a UUID (expected e.g. 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx')") \
            from None


def _rung(v: Any, what: str) -> str:
    if not isinstance(v, str) or not _RUNG.match(v):
        raise ValueError(f"{what} {v!r} is not a rung name (1-32 of letters, digits, '_.-', e.g. '720p')")
    return v


class BaseEvent(BaseModel):
    """Fields every event carries. Subclasses fix ``type`` and add their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)

    schema_version: Literal[1] = Field(description="wire-format version; 1 for this model")
    event_id: str = Field(description="UUID made by the client; the dedup key (a resend keeps it)")
    session_id: str = Field(description="UUID of one playback session; the Kafka key")
    user_id: str = Field(description="opaque account id (1-128 of letters, digits, '_.:@-')")
    video_id: str = Field(description="catalog id (UUID) of the title")
    client_ts: AwareDatetime = Field(description="client clock when the event happened, ISO-8601 with offset")
    server_ts: AwareDatetime | None = Field(None, description="set by the ingest API on receipt (UTC)")
    position_s: float = Field(ge=0, le=MAX_POSITION_S, allow_inf_nan=False,
                              description="playback position in the title, seconds")
    duration_s: float | None = Field(None, gt=0, le=MAX_POSITION_S, allow_inf_nan=False,
                                     description="length of the title in seconds, as the player knows it "
                                                 "(optional; the analytics share-watched and drop-off need it)")
    rung: str = Field(description="ABR ladder rung playing when the event happened, e.g. '720p'")
    device: Device = Field(description="web, ios, android, tv or other")
    country: str = Field(description="ISO 3166-1 alpha-2 country of the viewer, e.g. 'FR'")

    @field_validator("event_id", "session_id", "video_id", mode="before")
    @classmethod
    def _v_uuid(cls, v: Any, info: ValidationInfo) -> str:
        return _uuid(v, info.field_name)

    @field_validator("user_id")
    @classmethod
    def _v_user(cls, v: str) -> str:
        if not _USER.match(v):
            raise ValueError("user_id must be 1-128 characters of letters, digits and '_.:@-'")
        return v

    @field_validator("rung")
    @classmethod
    def _v_rung(cls, v: str) -> str:
        return _rung(v, "rung")

    @field_validator("device", mode="before")
    @classmethod
    def _v_device(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in DEVICES:
            return v.strip().lower()
        raise ValueError(f"device {v!r} is not one of {', '.join(DEVICES)} (send 'other' for anything else)")

    @field_validator("country", mode="before")
    @classmethod
    def _v_country(cls, v: Any) -> str:
        code = v.strip().upper() if isinstance(v, str) else v
        if not isinstance(code, str) or not _COUNTRY.match(code):
            raise ValueError(f"country {v!r} is not an ISO 3166-1 alpha-2 code (two letters, e.g. 'US', 'FR')")
        return code

    @field_validator("client_ts")
    @classmethod
    def _v_client_ts(cls, v: datetime, info: ValidationInfo) -> datetime:
        v = v.astimezone(timezone.utc)
        now = (info.context or {}).get("now") or _now()
        if v > now + MAX_CLIENT_AHEAD:
            raise ValueError(f"client_ts {v.isoformat()} is {(v - now).total_seconds():.0f} s ahead of the server "
                             f"clock (at most {MAX_CLIENT_AHEAD.total_seconds():.0f} s of clock skew is accepted)")
        if v < now - MAX_CLIENT_AGE:
            raise ValueError(f"client_ts {v.isoformat()} is older than {MAX_CLIENT_AGE.days} days; such events are "
                             "not accepted")
        return v

    @field_validator("server_ts")
    @classmethod
    def _v_server_ts(cls, v: datetime | None) -> datetime | None:
        return None if v is None else v.astimezone(timezone.utc)

    # -- wire form ---------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) as produced: key = session_id, value = the JSON, schema header."""
        return (self.session_id.encode(), self.to_json(),
                [("content-type", b"application/json"), ("schema", SCHEMA.encode())])

    def received(self, server_ts: datetime) -> "BaseEvent":
        """A copy stamped with the server's receipt time."""
        return self.model_copy(update={"server_ts": server_ts.astimezone(timezone.utc)})


class VideoStarted(BaseEvent):
    type: Literal["video_started"]


class VideoProgress(BaseEvent):
    """Sent every 10 s of playback (not of wall time: nothing while paused or rebuffering)."""

    type: Literal["video_progress"]
    played_s: float = Field(PROGRESS_INTERVAL_S, gt=0, le=60, allow_inf_nan=False,
                            description="seconds played since the previous progress event (normally 10)")


class VideoPaused(BaseEvent):
    type: Literal["video_paused"]


class VideoSeek(BaseEvent):
    type: Literal["video_seek"]
    from_position_s: float = Field(ge=0, le=MAX_POSITION_S, allow_inf_nan=False)
    to_position_s: float = Field(ge=0, le=MAX_POSITION_S, allow_inf_nan=False)

    @model_validator(mode="after")
    def _moved(self) -> "VideoSeek":
        if self.from_position_s == self.to_position_s:
            raise ValueError("a seek must move: from_position_s equals to_position_s")
        return self


class VideoCompleted(BaseEvent):
    type: Literal["video_completed"]


class Startup(BaseEvent):
    type: Literal["startup"]
    startup_ms: int = Field(ge=0, le=MAX_STARTUP_MS, description="time from play request to first frame")


class RebufferStart(BaseEvent):
    type: Literal["rebuffer_start"]


class RebufferEnd(BaseEvent):
    type: Literal["rebuffer_end"]
    duration_ms: int = Field(ge=0, le=MAX_REBUFFER_MS, description="length of the stall that just ended")


class BitrateSwitch(BaseEvent):
    """``rung`` is the rung playing after the switch (normally ``to_rung``)."""

    type: Literal["bitrate_switch"]
    from_rung: str
    to_rung: str

    @field_validator("from_rung", "to_rung")
    @classmethod
    def _v_rungs(cls, v: str, info: ValidationInfo) -> str:
        return _rung(v, info.field_name)

    @model_validator(mode="after")
    def _switched(self) -> "BitrateSwitch":
        if self.from_rung == self.to_rung:
            raise ValueError(f"a bitrate switch must change rung: from_rung equals to_rung ({self.to_rung!r})")
        return self


MODELS: dict[str, type[BaseEvent]] = {
    "video_started": VideoStarted, "video_progress": VideoProgress, "video_paused": VideoPaused,
    "video_seek": VideoSeek, "video_completed": VideoCompleted, "startup": Startup,
    "rebuffer_start": RebufferStart, "rebuffer_end": RebufferEnd, "bitrate_switch": BitrateSwitch,
}
assert set(MODELS) == set(EVENT_TYPES)

Event = Annotated[Union[VideoStarted, VideoProgress, VideoPaused, VideoSeek, VideoCompleted, Startup,
                        RebufferStart, RebufferEnd, BitrateSwitch], Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class EventValidationError(ValueError):
    """An event was refused. ``errors`` is ``[{"field": "position_s", "reason": "..."}]``."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))

    @property
    def reason(self) -> str:
        return str(self)


def _reasons(exc: ValidationError, raw: Any) -> list[dict[str, str]]:
    out = []
    for e in exc.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        # The discriminated union puts the type tag first in the location: drop it.
        if loc and isinstance(raw, dict) and loc[0] == raw.get("type"):
            loc = loc[1:]
        field = ".".join(loc) or "event"
        kind = e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        if kind == "union_tag_invalid":
            field, msg = "type", (f"unknown event type {raw.get('type')!r}; expected one of "
                                  f"{', '.join(EVENT_TYPES)}")
        elif kind == "union_tag_not_found":
            field, msg = "type", "the field 'type' is missing"
        elif kind == "missing":
            msg = "this field is required"
        elif kind == "extra_forbidden":
            msg = "unknown field (not part of schema_version 1)"
        elif kind == "literal_error" and field == "schema_version":
            msg = f"unsupported schema_version {e.get('input')!r}; this server accepts {SCHEMA_VERSION}"
        elif kind == "timezone_aware":
            msg = "client_ts must carry a UTC offset (ISO-8601 like 2025-01-01T12:00:00+00:00 or ...Z)"
        elif kind in ("greater_than_equal", "greater_than") and e.get("input") is not None:
            msg = f"{msg} (got {e['input']!r})"
        elif not loc and raw is not None and not isinstance(raw, dict):
            msg = f"an event must be a JSON object, got {type(raw).__name__}"
        out.append({"field": field, "reason": msg})
    return out


def validate_event(raw: Any, *, now: datetime | None = None, stamp: bool = False) -> BaseEvent:
    """Parse and check one event (a dict, or JSON text/bytes).

    ``now`` is the server clock the ``client_ts`` bounds are checked against (default: now).
    With ``stamp`` the returned event gets ``server_ts = now`` (what the ingest API does).
    Raises :class:`EventValidationError` with one reason per bad field.
    """
    now = (now or _now()).astimezone(timezone.utc)
    ctx = {"now": now}
    try:
        if isinstance(raw, (str, bytes, bytearray)):
            ev = EVENT_ADAPTER.validate_json(raw, context=ctx)
            raw_obj = None
        else:
            raw_obj = raw
            ev = EVENT_ADAPTER.validate_python(raw, context=ctx)
    except ValidationError as e:
        if isinstance(raw, (str, bytes, bytearray)):
            import json

            try:
                raw_obj = json.loads(raw)
            except ValueError:
                raise EventValidationError([{"field": "event", "reason": "not valid JSON"}]) from None
        raise EventValidationError(_reasons(e, raw_obj)) from None
    return ev.received(now) if stamp else ev


def parse_kafka_value(value: bytes | str) -> BaseEvent:
    """Parse a produced message (validated and stamped at ingest); the client_ts bounds are not re-checked
    against today's clock (a replay of old messages must parse), everything else is."""
    import json

    data = json.loads(value)
    ts = datetime.fromisoformat(str(data["client_ts"]).replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise EventValidationError([{"field": "client_ts", "reason": "no UTC offset"}])
    return EVENT_ADAPTER.validate_python(data, context={"now": ts})
