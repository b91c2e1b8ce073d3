"""Parse and validate player events inside Spark, with the rules of :mod:`vodflow.analytics.events`.

A Python UDF calling the pydantic model would cost a Python round trip per event; these are the
same rules as column expressions, so validation runs in the JVM at stream speed. Each rule gives a
reason string; a record is good when it has none. ``tests/analytics/test_stream_validation.py``
checks this module against :func:`vodflow.analytics.events.validate_event` on the simulator's
good and corrupted events, so the two cannot drift apart silently.

Note: ``from_json`` returns a struct of nulls (not a null struct) for text that is not a JSON
object, and silently drops fields of the wrong JSON type; so "is it an object" comes from
``json_object_keys`` and type errors from the corrupt-record column.
"""

from __future__ import annotations

from vodflow.analytics import events as E
from vodflow.analytics.spark_schema import FIELDS, JSON_OPTIONS

CORRUPT = "_corrupt_record"
SEP = "\u001f"  # ASCII unit separator between reasons while they are joined
RAW_TS_RE = r'"client_ts"\s*:\s*"([^"]*)"'
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
OFFSET_RE = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
COMMON = ["schema_version", "type", "event_id", "session_id", "user_id", "video_id", "client_ts", "server_ts",
          "position_s", "duration_s", "rung", "device", "country"]
# type-specific field -> the types that may carry it
SPECIFIC = {"played_s": ["video_progress"], "from_position_s": ["video_seek"], "to_position_s": ["video_seek"],
            "startup_ms": ["startup"], "duration_ms": ["rebuffer_end"], "from_rung": ["bitrate_switch"],
            "to_rung": ["bitrate_switch"]}
REQUIRED_BY_TYPE = {"video_seek": ["from_position_s", "to_position_s"], "startup": ["startup_ms"],
                    "rebuffer_end": ["duration_ms"], "bitrate_switch": ["from_rung", "to_rung"]}
REQUIRED = ["event_id", "session_id", "user_id", "video_id", "client_ts", "position_s", "rung", "device", "country"]
assert set(COMMON) | set(SPECIFIC) == {n for n, _, _ in FIELDS}


def _schema():
    from pyspark.sql import types as T

    from vodflow.analytics.spark_schema import event_schema

    return T.StructType(event_schema().fields + [T.StructField(CORRUPT, T.StringType(), True)])


def parse_and_check(df, value_col: str = "value", received_col: str = "kafka_ts"):
    """``df`` with a string ``value`` → adds ``e`` (the parsed struct, normalised) and ``reasons``
    (array<string>, empty when the event is good) and ``kind`` (null, 'malformed' or 'invalid')."""
    steps = _check_columns(value_col, received_col)
    for name, col in steps:
        df = df.withColumn(name, col)
    return df.drop("_keys", "_p", "_usual", "_joined")


_built: list = []   # [(SparkContext, value_col, received_col, steps)]: the columns of the live context


def _check_columns(value_col: str, received_col: str) -> tuple:
    """The (name, Column) steps of :func:`parse_and_check`, built once per SparkContext.

    A Column is an unresolved expression in the JVM, not tied to a DataFrame, so the same ones serve
    every micro-batch. Building them costs ~7,000 Py4J round trips (every ``F.*`` call and operator is
    one): 1-3 s of each batch's parse step on 2 busy cores, more than its Spark job for a small batch."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    for ctx, v, r, steps in _built:
        if ctx is sc and (v, r) == (value_col, received_col):
            return steps
    steps = _build_check_columns(value_col, received_col)
    _built[:] = [e for e in _built if e[0] is sc] + [(sc, value_col, received_col, steps)]
    return steps


def _build_check_columns(value_col: str, received_col: str) -> tuple:
    from pyspark.sql import functions as F

    v = F.col(value_col)
    keys = F.json_object_keys(v)
    p = F.from_json(v, _schema(), {**JSON_OPTIONS, "columnNameOfCorruptRecord": CORRUPT})
    c = lambda name: F.col(f"_p.{name}")  # noqa: E731
    # the client_ts text as sent (to check it carries an offset): a regex over the record costs a tenth
    # of get_json_object's third JSON parse (measured: 0.4 s vs 4.4 s per 100k events)
    raw_ts_text = F.regexp_extract(v, RAW_TS_RE, 1)
    raw_ts = F.when(raw_ts_text != "", raw_ts_text)
    typ = c("type")
    received = F.col(received_col)

    def rule(cond, reason):
        return F.when(cond, F.lit(reason) if isinstance(reason, str) else reason)

    known = COMMON + list(SPECIFIC)
    # The usual event: as many keys as known fields parsed to a value. Then every key is a known field
    # (each counted once), and a field is present exactly when it has a value - so the checks below that
    # need the key list (unknown fields, a field sent for the wrong type) are answered without array work,
    # which is most of the rules' cost; any other record (a null value, an unknown or repeated key) takes
    # the exact path.
    n_valued = sum((F.when(c(n).isNotNull(), 1).otherwise(0) for n in known), F.lit(0))
    usual = F.col("_usual")
    usual_value = F.coalesce(F.size(F.col("_keys")) == n_valued, F.lit(False))

    def present(name):
        return F.when(usual, c(name).isNotNull()).otherwise(F.array_contains(F.col("_keys"), name))

    unknown = F.array_except(F.col("_keys"), F.array(*[F.lit(n) for n in known]))
    rules = [
        rule(F.col("_keys").isNull(), "event: not a JSON object"),
        rule(F.col("_keys").isNotNull() & c(CORRUPT).isNotNull(),
             "event: a field has the wrong JSON type (e.g. a string where a number is expected)"),
        rule(~usual & (F.size(unknown) > 0),
             F.concat(F.lit("unknown field(s) (not part of schema_version 1): "), F.array_join(unknown, ", "))),
        rule(c("schema_version").isNull() | (c("schema_version") != E.SCHEMA_VERSION),
             f"schema_version: unsupported or missing; this pipeline reads {E.SCHEMA_VERSION}"),
        rule(typ.isNull(), "type: the field 'type' is missing"),
        rule(typ.isNotNull() & ~typ.isin(*E.EVENT_TYPES),
             F.concat(F.lit("type: unknown event type '"), typ, F.lit("'"))),
    ]
    for name in REQUIRED:
        rules.append(rule(F.col("_keys").isNotNull() & c(name).isNull() & c(CORRUPT).isNull(),
                          f"{name}: this field is required"))
    for name in ("event_id", "session_id", "video_id"):
        rules.append(rule(c(name).isNotNull() & ~c(name).rlike(UUID_RE), f"{name}: is not a UUID"))
    rules += [
        rule(c("user_id").isNotNull() & ~c("user_id").rlike(E._USER.pattern),
             "user_id: must be 1-128 characters of letters, digits and '_.:@-'"),
        rule(raw_ts.isNotNull() & ~raw_ts.rlike(OFFSET_RE),
             "client_ts: must carry a UTC offset (ISO-8601 like 2025-01-01T12:00:00+00:00 or ...Z)"),
        rule(c("client_ts") > received + F.expr(f"INTERVAL {int(E.MAX_CLIENT_AHEAD.total_seconds())} SECONDS"),
             "client_ts: ahead of the server clock by more than the accepted skew"),
        rule(c("client_ts") < received - F.expr(f"INTERVAL {E.MAX_CLIENT_AGE.days} DAYS"),
             f"client_ts: older than {E.MAX_CLIENT_AGE.days} days"),
        rule((c("position_s") < 0) | (c("position_s") > E.MAX_POSITION_S) | F.isnan(c("position_s")),
             f"position_s: must be between 0 and {E.MAX_POSITION_S:.0f}"),
        rule((c("duration_s") <= 0) | (c("duration_s") > E.MAX_POSITION_S) | F.isnan(c("duration_s")),
             f"duration_s: must be > 0 and at most {E.MAX_POSITION_S:.0f}"),
        rule(c("rung").isNotNull() & ~c("rung").rlike(E._RUNG.pattern), "rung: is not a rung name"),
        rule(c("device").isNotNull() & ~F.lower(F.trim(c("device"))).isin(*E.DEVICES),
             f"device: is not one of {', '.join(E.DEVICES)}"),
        rule(c("country").isNotNull() & ~F.upper(F.trim(c("country"))).rlike(E._COUNTRY.pattern),
             "country: is not an ISO 3166-1 alpha-2 code"),
    ]
    for name, types in SPECIFIC.items():
        rules.append(rule(present(name) & typ.isin(*E.EVENT_TYPES) & ~typ.isin(*types),
                          f"{name}: unknown field for this event type"))
    for t, names in REQUIRED_BY_TYPE.items():
        for name in names:
            rules.append(rule((typ == t) & c(name).isNull() & c(CORRUPT).isNull(), f"{name}: this field is required"))
    rules += [
        rule((typ == "video_progress") & ((c("played_s") <= 0) | (c("played_s") > 60)),
             "played_s: must be > 0 and at most 60"),
        # absent means the default interval; sent as null is an error (as the API's model says)
        rule((typ == "video_progress") & present("played_s") & c("played_s").isNull() & c(CORRUPT).isNull(),
             "played_s: must be a number, not null (leave it out for the default)"),
        rule((typ == "video_seek") & ((c("from_position_s") < 0) | (c("to_position_s") < 0)
                                     | (c("from_position_s") > E.MAX_POSITION_S)
                                     | (c("to_position_s") > E.MAX_POSITION_S)),
             "video_seek: positions must be between 0 and 86400"),
        rule((typ == "video_seek") & (c("from_position_s") == c("to_position_s")),
             "a seek must move: from_position_s equals to_position_s"),
        rule((typ == "startup") & ((c("startup_ms") < 0) | (c("startup_ms") > E.MAX_STARTUP_MS)),
             f"startup_ms: must be between 0 and {E.MAX_STARTUP_MS}"),
        rule((typ == "rebuffer_end") & ((c("duration_ms") < 0) | (c("duration_ms") > E.MAX_REBUFFER_MS)),
             f"duration_ms: must be between 0 and {E.MAX_REBUFFER_MS}"),
        rule((typ == "bitrate_switch") & ((c("from_rung").isNotNull() & ~c("from_rung").rlike(E._RUNG.pattern))
                                          | (c("to_rung").isNotNull() & ~c("to_rung").rlike(E._RUNG.pattern))),
             "from_rung/to_rung: not a rung name"),
        rule((typ == "bitrate_switch") & (c("from_rung") == c("to_rung")),
             "a bitrate switch must change rung: from_rung equals to_rung"),
    ]
    # the rules are evaluated once, into one string (concat_ws skips those that passed: null), and split
    joined = F.col("_joined")
    reasons = F.when(F.col("_keys").isNull(), F.array(F.lit("event: not a JSON object"))) \
               .when(joined == "", F.array().cast("array<string>")) \
               .otherwise(F.split(joined, SEP))
    event = F.struct(
        c("schema_version").alias("schema_version"), typ.alias("type"),
        F.lower(c("event_id")).alias("event_id"), F.lower(c("session_id")).alias("session_id"),
        c("user_id").alias("user_id"), F.lower(c("video_id")).alias("video_id"),
        c("client_ts").alias("client_ts"), F.coalesce(c("server_ts"), received).alias("server_ts"),
        c("position_s").alias("position_s"), c("duration_s").alias("duration_s"), c("rung").alias("rung"),
        F.lower(F.trim(c("device"))).alias("device"), F.upper(F.trim(c("country"))).alias("country"),
        F.when(typ == "video_progress", F.coalesce(c("played_s"), F.lit(E.PROGRESS_INTERVAL_S)))
         .alias("played_s"),
        c("from_position_s").alias("from_position_s"), c("to_position_s").alias("to_position_s"),
        c("startup_ms").alias("startup_ms"), c("duration_ms").alias("duration_ms"),
        c("from_rung").alias("from_rung"), c("to_rung").alias("to_rung"),
    )
    malformed = F.col("_keys").isNull() | c(CORRUPT).isNotNull()
    kind = F.when(F.size("reasons") == 0, F.lit(None).cast("string")) \
            .when(malformed, F.lit("malformed")).otherwise(F.lit("invalid"))
    return (("_keys", keys), ("_p", p), ("_usual", usual_value), ("_joined", F.concat_ws(SEP, *rules)),
            ("reasons", reasons), ("kind", kind), ("e", event))
