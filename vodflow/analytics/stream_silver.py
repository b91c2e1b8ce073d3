"""The first half of a stream micro-batch: Kafka records → bronze, quarantine, silver.

Per batch, each record is read from Kafka once and parsed once (:mod:`validate_spark`):

* **bronze** gets every record exactly as produced (one append);
* **quarantine** gets the malformed, the invalid and the *late* ones (``client_ts`` older than the
  watermark recorded by the previous batch), each with its reason - one append, and only when there
  are any;
* **silver** gets the rest, once per event: a resend is the same ``event_id`` with the same
  ``client_ts``; the first copy in Kafka order within the batch is kept, and none that silver already
  holds from another Kafka record. The duplicates are found on the four key columns alone
  (:func:`drops`: a narrow window and a narrow semi-join; usually the answer is "none", and then
  the wide rows take part in no join at all). A resend has the client time of the original, so the
  check reads only silver's rows in the minutes of client time the batch has (partition pruning on
  the date, file skipping on ``client_ts`` statistics): its cost follows the batch, not the table or
  the lateness window. A small batch (``VODFLOW_EVENTS_LOCAL_ROWS``) is checked in the driver
  (:func:`drops_local`: its key columns and silver's candidates as Arrow, no Spark job). Then a plain
  append, repartitioned by the table's partitions and sorted by ``client_ts``, so a batch writes one
  file per (date, type) with a narrow time range. (Range-partitioning the big (date, type) over the
  cores measured no faster here: bench/stream_batch.py, 2026-12-06 10:10.)

The new events are a DataFrame over the batch's cached records, for the gold half of the batch.
Replays are deterministic: an event is a duplicate only of a silver row from a *different* Kafka
record, so when a crashed batch is replayed after its silver append committed, its own rows are not
mistaken for duplicates, and gold gets exactly the events it would have got the first time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vodflow.analytics import tables as T
from vodflow.analytics.txn import Txn
from vodflow.settings import Settings


def ts_literal(ts: datetime | None) -> str:
    if ts is None:
        return "TIMESTAMP '1970-01-01 00:00:00'"
    return f"TIMESTAMP '{ts.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def raw_records(df):
    """The Kafka source's columns as bronze stores them."""
    from pyspark.sql import functions as F

    return df.select(F.col("key").cast("string").alias("key"), F.col("value").cast("string").alias("value"),
                     "topic", "partition", "offset", F.col("timestamp").alias("kafka_ts"))


BRONZE_KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "kafka_ts")


def write_bronze(txn: Txn, s: Settings, records) -> None:
    """Bronze from any frame of the batch that keeps the Kafka columns as received (:func:`raw_records`,
    :func:`check`)."""
    from pyspark.sql import functions as F

    txn.append(records.select(*BRONZE_KAFKA_COLUMNS).withColumn("ingest_date", F.to_date("kafka_ts")), T.BRONZE, s)


def check(raw):
    """Parse + validate each record once (kind null, 'malformed' or 'invalid', with its reasons).

    The result is flat - the event's fields as top-level columns next to the Kafka ones - because the
    batch caches it, and Spark's in-memory cache stores a nested struct row by row (encoded, then
    decoded again by every step that reads it) where flat columns are stored and read as columns.
    Nothing here depends on the batch (no watermark): Spark compiles the generated code of a query
    plan once and reuses it while the code text is the same, and a timestamp literal is written into
    that text - so the parse, the biggest generated method of the job, would be compiled again (and
    run interpreted until HotSpot caught up) every batch. Lateness is judged on the key columns in
    :func:`drops` instead."""
    from vodflow.analytics.validate_spark import parse_and_check

    return parse_and_check(raw).select("e.*", "kind", "reasons", *BRONZE_KAFKA_COLUMNS)


def late_reason(watermark: datetime, lateness: str):
    from pyspark.sql import functions as F

    return F.concat(
        F.lit("late: client_ts "), F.date_format("client_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSX"),
        F.lit(f" is older than the watermark {watermark.isoformat()} "
              f"(newest client_ts seen minus {lateness}); not counted"))


def write_quarantine(txn: Txn, s: Settings, checked, batch_id: int, late_keys=None,
                     watermark: datetime | None = None, lateness: str = "") -> None:
    """The batch's malformed and invalid records, and the late ones (``late_keys``: their (_p, _o))."""
    from pyspark.sql import functions as F

    bad = checked.where(F.col("kind").isNotNull())
    if late_keys is not None:
        k = F.broadcast(late_keys)
        late = (checked.join(k, (checked["partition"] == k["_p"]) & (checked["offset"] == k["_o"]), "left_semi")
                .withColumn("kind", F.lit("late"))
                .withColumn("reasons", F.array(late_reason(watermark, lateness))))
        bad = bad.unionByName(late)
    bad = bad.select(
        "kind", F.array_join("reasons", "; ").alias("reason"),
        F.coalesce(F.col("event_id"), F.get_json_object("value", "$.event_id")).alias("event_id"),
        "value", "topic", "partition", "offset", "kafka_ts", F.lit(batch_id).cast("bigint").alias("batch_id"),
        F.to_date("kafka_ts").alias("quarantine_date"))
    txn.append(bad, T.QUARANTINE, s)


DROPS_SCHEMA = "_p int, _o bigint, _late boolean"   # what drops and drops_local give


def drops(spark, s: Settings, checked, minutes, watermark: datetime | None):
    """The good records of the batch that are not new events, as (_p, _o, _late) - their Kafka
    partition and offset, and whether the record is late - deduplicated:

    * *late*: ``client_ts`` older than ``watermark`` (quarantined, never counted);
    * *duplicates*: every copy after the first (Kafka order) of an (event_id, client_ts) within the
      batch, and every record whose (event_id, client_ts) silver already holds from a *different*
      Kafka record.

    Only the four key columns take part (a narrow filter, window and semi-join); the wide rows are
    never shuffled for dedup, and usually the answer is "none". ``minutes``: the distinct
    ``date_trunc('minute', client_ts)`` of the batch's good records - silver is only read where a
    resend of them could be (its date partitions, and files whose client_ts range overlaps). A small
    batch takes :func:`drops_local` instead."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = checked.where(F.col("kind").isNull()).select(
        F.col("event_id").alias("_id"), F.col("client_ts").alias("_ts"), F.col("partition").alias("_p"),
        F.col("offset").alias("_o"))
    first = Window.partitionBy("_id", "_ts").orderBy("_p", "_o")
    out = (keys.withColumn("_n", F.row_number().over(first)).where("_n > 1")
           .select("_p", "_o", F.lit(False).alias("_late")))
    if watermark is not None:
        out = out.unionByName(keys.where(F.col("_ts") < F.lit(watermark))
                              .select("_p", "_o", F.lit(True).alias("_late")))
    ranges = minute_ranges(minutes)
    if ranges:
        days = sorted({d for a, b in ranges for d in _days(a, b)})
        # partition pruning on the dates, file skipping on client_ts statistics
        within = _within(F.col("client_ts"), [(F.lit(a), F.lit(b)) for a, b in ranges])
        seen = (spark.read.format("delta").load(T.SILVER.location(s))
                .where(F.col("event_date").isin(days) & within)
                .select("event_id", "client_ts", "kafka_partition", "kafka_offset"))
        seen = seen.toDF("_sid", "_sts", "_sp", "_so")
        held = ((keys["_id"] == seen["_sid"]) & (keys["_ts"] == seen["_sts"])
                & ~((keys["_p"] == seen["_sp"]) & (keys["_o"] == seen["_so"])))
        out = out.unionByName(keys.join(seen, held, "left_semi").select("_p", "_o", F.lit(False).alias("_late")))
    return out.groupBy("_p", "_o").agg(F.max("_late").alias("_late"))


def batch_keys(checked):
    """The good records' key columns (_id, _ts, _p, _o) as Arrow, in the driver: one Spark job over the
    batch's cached records (a small batch: :func:`drops_local`)."""
    from pyspark.sql import functions as F

    return checked.where(F.col("kind").isNull()).select(
        F.col("event_id").alias("_id"), F.col("client_ts").alias("_ts"), F.col("partition").alias("_p"),
        F.col("offset").alias("_o")).toArrow()


def drops_local(s: Settings, keys, minutes, watermark: datetime | None):
    """:func:`drops` for a small batch, in the driver: ``keys`` (:func:`batch_keys`) → an Arrow table
    of (_p, _o, _late), the same rows :func:`drops` gives. Silver's rows in the batch's minutes are read
    by delta-rs (:func:`silver_candidates`); no Spark job, where the Spark plan of :func:`drops` (window,
    semi-join, aggregate: shuffles over a few rows) costs about a second of a small batch."""
    import pandas as pd
    import pyarrow as pa

    k = keys.to_pandas()
    k["_ts"] = pd.to_datetime(k["_ts"], utc=True)
    found = [k.sort_values(["_p", "_o"]).loc[lambda d: d.duplicated(["_id", "_ts"], keep="first"), ["_p", "_o"]]
             .assign(_late=False)]
    if watermark is not None:
        found.append(k.loc[k["_ts"] < pd.Timestamp(_utc(watermark).as_py()), ["_p", "_o"]].assign(_late=True))
    ranges = minute_ranges(minutes)
    if ranges and len(k):
        days = sorted({d for a, b in ranges for d in _days(a, b)})
        seen = silver_candidates(s, days, ranges).to_pandas()
        seen["_ts"] = pd.to_datetime(seen["_ts"], utc=True)
        m = k.merge(seen, on=["_id", "_ts"], suffixes=("", "_seen"))
        held = m.loc[(m["_p"] != m["_p_seen"]) | (m["_o"] != m["_o_seen"]), ["_p", "_o"]]
        found.append(held.drop_duplicates().assign(_late=False))
    out = pd.concat(found, ignore_index=True).groupby(["_p", "_o"], as_index=False)["_late"].max()
    return pa.Table.from_pandas(out, schema=pa.schema([("_p", pa.int32()), ("_o", pa.int64()), ("_late", pa.bool_())]),
                                preserve_index=False)


SILVER_DERIVED = ("kafka_partition", "kafka_offset", "event_date")  # silver's columns not in the event


def new_events(checked, dropped=None, broadcast: bool = True):
    """The batch's new events in silver's columns: the good records minus ``dropped`` (a DataFrame of
    (_p, _o) from :func:`drops`, or None when there are none)."""
    from pyspark.sql import functions as F

    good = checked.where(F.col("kind").isNull())
    if dropped is not None:
        d = F.broadcast(dropped) if broadcast else dropped
        good = good.join(d, (good["partition"] == d["_p"]) & (good["offset"] == d["_o"]), "left_anti")
    return good.select(*[F.col(c) for c in T.SILVER.column_names if c not in SILVER_DERIVED],
                       F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
                       F.to_date("client_ts").alias("event_date"))


def silver_candidates(s: Settings, days, ranges):
    """Silver's (event_id, client_ts, kafka_partition, kafka_offset) in ``days``' partitions and the
    ``ranges`` of client time, read by delta-rs (partition pruning, row-group statistics) as Arrow."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from vodflow.analytics import lake_rs
    from vodflow.analytics.query import arrow_schema

    cols = ["event_id", "client_ts", "kafka_partition", "kafka_offset"]
    names = ["_id", "_ts", "_p", "_o"]
    dt = lake_rs.open_table(T.SILVER, s)
    if dt is None:
        return pa.schema([arrow_schema(T.SILVER).field(c) for c in cols]).empty_table().rename_columns(names)
    within = _within(ds.field("client_ts"), [(_utc(a), _utc(b)) for a, b in ranges])
    dataset = dt.to_pyarrow_dataset(partitions=[("event_date", "in", [d.isoformat() for d in days])])
    return dataset.to_table(columns=cols, filter=within).rename_columns(names)


def _within(ts, bounds):
    """``ts`` in any of the [start, end) ``bounds`` - a Spark Column or a PyArrow expression alike."""
    out = None
    for a, b in bounds:
        r = (ts >= a) & (ts < b)
        out = r if out is None else out | r
    return out


def _utc(ts: datetime):
    """A timestamp Spark handed back (naive, in the driver's local time) as a UTC Arrow scalar."""
    import pyarrow as pa

    return pa.scalar(ts.astimezone(timezone.utc), type=pa.timestamp("us", "UTC"))


def minute_ranges(minutes) -> list[tuple[datetime, datetime]]:
    """Sorted minute starts → merged [start, end) ranges: [10:00, 10:01, 10:02, 10:07] → [10:00-10:03, 10:07-10:08]."""
    out: list[list[datetime]] = []
    for m in sorted(set(minutes or ())):
        if out and m <= out[-1][1]:
            out[-1][1] = max(out[-1][1], m + timedelta(minutes=1))
        else:
            out.append([m, m + timedelta(minutes=1)])
    return [(a, b) for a, b in out]


def _days(a: datetime, b: datetime) -> list:
    d, last = a.date(), (b - timedelta(microseconds=1)).date()
    out = []
    while d <= last:
        out.append(d)
        d += timedelta(days=1)
    return out


def write_silver(txn: Txn, s: Settings, events) -> None:
    """Append the batch's new events: a DataFrame (:func:`new_events`), or their Arrow rows when the
    driver holds them already (a small batch)."""
    import pyarrow as pa

    if isinstance(events, pa.Table):
        txn.append_arrow(events, T.SILVER, s, sort_by="client_ts")
    else:
        txn.append(events, T.SILVER, s, sort_by="client_ts")
