"""Spark schema of the player-event JSON (schema_version 1), for the streaming job. pyspark is imported lazily.

Status: done -- :func:`event_schema` is the flat StructType of every field of every event type
(type-specific fields are null for the other types), the order of
:data:`FIELDS`; :func:`bronze_schema` adds the Kafka columns bronze keeps.
Next: the Structured Streaming job (``jobs/events_stream.py``) reads Kafka, writes bronze as is,
parses with ``from_json(value, event_schema())`` and re-validates with the rules of
``vodflow.analytics.events`` (silver) or sends the row to quarantine with the reason.
Timestamps are parsed with ``timestampFormat`` = :data:`TIMESTAMP_FORMAT` (ISO-8601 with offset,
microseconds optional); ids stay strings.
"""

from __future__ import annotations

# name, Spark SQL type, nullable. Common fields first, then the type-specific ones.
FIELDS: list[tuple[str, str, bool]] = [
    ("schema_version", "int", False),
    ("type", "string", False),
    ("event_id", "string", False),
    ("session_id", "string", False),
    ("user_id", "string", False),
    ("video_id", "string", False),
    ("client_ts", "timestamp", False),
    ("server_ts", "timestamp", True),
    ("position_s", "double", False),
    ("duration_s", "double", True),
    ("rung", "string", False),
    ("device", "string", False),
    ("country", "string", False),
    ("played_s", "double", True),          # video_progress
    ("from_position_s", "double", True),   # video_seek
    ("to_position_s", "double", True),     # video_seek
    ("startup_ms", "long", True),          # startup
    ("duration_ms", "long", True),         # rebuffer_end
    ("from_rung", "string", True),         # bitrate_switch
    ("to_rung", "string", True),           # bitrate_switch
]

TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][.SSS][XXX]"
# from_json options for the event JSON.
JSON_OPTIONS = {"timestampFormat": TIMESTAMP_FORMAT, "mode": "PERMISSIVE"}


def ddl() -> str:
    """The schema as a DDL string (usable without pyspark, e.g. in Spark SQL ``from_json``)."""
    return ", ".join(f"{n} {t.upper()}{'' if null else ' NOT NULL'}" for n, t, null in FIELDS)


def event_schema(*, all_nullable: bool = True):
    """StructType of the event JSON.

    ``from_json`` needs every field nullable (a malformed event must come out as nulls, not fail the
    query), so that is the default; ``all_nullable=False`` gives the silver table's contract.
    """
    from pyspark.sql import types as T

    kinds = {"int": T.IntegerType(), "long": T.LongType(), "double": T.DoubleType(), "string": T.StringType(),
             "timestamp": T.TimestampType()}
    return T.StructType([T.StructField(n, kinds[t], all_nullable or null) for n, t, null in FIELDS])


def bronze_schema():
    """Bronze: the Kafka record as received, value kept as a string (nothing is lost or parsed)."""
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("key", T.StringType(), True),
        T.StructField("value", T.StringType(), True),
        T.StructField("topic", T.StringType(), False),
        T.StructField("partition", T.IntegerType(), False),
        T.StructField("offset", T.LongType(), False),
        T.StructField("kafka_ts", T.TimestampType(), False),
        T.StructField("ingest_date", T.DateType(), False),
    ])
