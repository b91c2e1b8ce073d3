"""The ingest request message schema (no services needed)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pydantic
import pytest

from vodflow.api.ingest_request import SCHEMA, IngestRequest


def test_wire_format_round_trip():
    vid = str(uuid.uuid4())
    req = IngestRequest(video_id=vid.upper(), source_key=f"masters/{vid}/original.mp4", title="T")
    key, value, headers = req.to_kafka()
    assert key == vid.encode()
    msg = json.loads(value)
    assert set(msg) == {"video_id", "source_key", "title", "requested_at"} and msg["video_id"] == vid
    assert datetime.fromisoformat(msg["requested_at"]).tzinfo is not None
    assert dict(headers)["schema"] == SCHEMA.encode()
    assert IngestRequest.from_kafka(value) == req


def test_parsing_is_strict_on_fields_and_lenient_on_additions():
    vid = str(uuid.uuid4())
    raw = {"video_id": vid, "source_key": "k", "title": "t", "requested_at": "2025-01-01T00:00:00",
           "priority": 5}  # a later producer's extra field is ignored; a naive time is taken as UTC
    req = IngestRequest.from_kafka(json.dumps(raw))
    assert req.requested_at == datetime(2025, 1, 1, tzinfo=timezone.utc)
    for bad in ({**raw, "video_id": "nope"}, {k: v for k, v in raw.items() if k != "source_key"}):
        with pytest.raises(pydantic.ValidationError):
            IngestRequest.from_kafka(json.dumps(bad))
