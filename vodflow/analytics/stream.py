"""The watch-analytics stream: Kafka → bronze → silver / quarantine → gold, exactly once, in one query.

One Structured Streaming query (Kafka source, ``foreachBatch``, one checkpoint) does a whole
micro-batch: :mod:`stream_silver` (each record read and parsed once: bronze, quarantine, dedup into
silver) and then :mod:`stream_gold` on the same batch's new events (sessions, the title tables,
user_title, playback_quality), and finally one ``gold_progress`` row that records the batch's
watermark, what gold now reflects, its freshness and the time of every step. So there is one cycle of
freshness (not a second query re-reading silver), the two cores are not split between two queries,
and a batch makes 7 Delta commits (8 when it has quarantined records) instead of 10.

Exactly once: every Delta write of a batch carries ``txnAppId`` = the query's name + id (stable
across restarts from the same checkpoint) and ``txnVersion`` = the batch id (:mod:`txn`), so a batch
replayed after a crash skips the writes that already committed and redoes the others, on the same
input (see :mod:`stream_silver` for why the gold input is the same on replay). The watermark of batch
N is the one batch N-1 recorded in ``gold_progress``, so a replay judges lateness exactly as the
first run did.

The watermark is event time: ``max(client_ts accepted so far) - VODFLOW_EVENTS_LATENESS``. An event
older than that is late: it goes to quarantine (kind ``late``) and is never counted.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from vodflow.analytics import gold_rows as R
from vodflow.analytics import lake_rs
from vodflow.analytics import stream_gold as G
from vodflow.analytics import stream_silver as S
from vodflow.analytics import tables as T
from vodflow.analytics.intervals import parse_interval
from vodflow.analytics.query import arrow_schema
from vodflow.analytics.txn import Txn, query_app_id
from vodflow.settings import Settings, get_settings

log = logging.getLogger("vodflow.analytics.stream")

QUERY = "vodflow-events"
GOLD_PROGRESS = T.GOLD_PROGRESS
#: at most this many dropped (late or duplicate) records are broadcast to the anti-join that drops them
#: (more: a shuffle join)
BROADCAST_DROPS = 1_000_000


@dataclass(frozen=True)
class StreamConfig:
    topic: str
    bootstrap: str
    lateness: str            # Spark interval, e.g. "15 minutes"
    trigger: str             # processing-time trigger, e.g. "10 seconds"
    max_offsets: int | None  # maxOffsetsPerTrigger (None: everything available)
    checkpoints: str
    sql_conf: tuple[tuple[str, str], ...] = ()  # Spark SQL settings of every batch (VODFLOW_EVENTS_SPARK_CONF)
    local_rows: int = 0      # batches up to this many records are written by delta-rs (VODFLOW_EVENTS_LOCAL_ROWS)
    kafka_conf: tuple[tuple[str, str], ...] = ()  # consumer settings of the source (VODFLOW_EVENTS_KAFKA_CONF)

    @classmethod
    def from_settings(cls, s: Settings) -> "StreamConfig":
        from vodflow.spark import parse_conf

        mo = s["VODFLOW_EVENTS_MAX_OFFSETS"].strip()
        return cls(topic=s.topic_events, bootstrap=s.kafka_bootstrap, lateness=s["VODFLOW_EVENTS_LATENESS"],
                   trigger=s["VODFLOW_EVENTS_TRIGGER"], max_offsets=int(mo) if mo else None,
                   checkpoints=s.table_path("_checkpoints"),
                   sql_conf=tuple(parse_conf(s, "VODFLOW_EVENTS_SPARK_CONF").items()),
                   local_rows=int(s["VODFLOW_EVENTS_LOCAL_ROWS"] or 0),
                   kafka_conf=tuple(parse_conf(s, "VODFLOW_EVENTS_KAFKA_CONF").items()))

    @property
    def checkpoint(self) -> str:
        return f"{self.checkpoints}/events"


class Steps:
    """Wall time of each step of a batch, in order (seconds), for ``gold_progress.steps``. With a
    SparkContext, the Spark jobs a step runs are described as ``vodflow batch <id>: <step>`` (in the
    Spark UI, and for bench/stream_jobs.py's CPU time per step)."""

    def __init__(self, sc=None, batch_id: int | None = None) -> None:
        self.t0 = time.monotonic()
        self.times: dict[str, float] = {}
        self.sc, self.batch_id = sc, batch_id

    @contextmanager
    def __call__(self, name: str):
        t = time.monotonic()
        if self.sc is not None:
            self.sc.setJobDescription(f"vodflow batch {self.batch_id}: {name}")
        try:
            yield
        finally:
            if self.sc is not None:
                self.sc.setJobDescription(None)
            self.times[name] = round(self.times.get(name, 0.0) + time.monotonic() - t, 3)

    def total(self) -> float:
        return round(time.monotonic() - self.t0, 3)


class BatchRunner:
    """What the query does with each micro-batch. Holds the last watermark it recorded and a small thread
    pool for the steps that run at the same time (Spark appends carry their idempotent-write pair as
    writer options, so they share the query's session)."""

    def __init__(self, s: Settings, cfg: StreamConfig):
        self.s, self.cfg = s, cfg
        self.app_id: str | None = None
        self._last: tuple[int, datetime | None, datetime | None] | None = None  # (batch, max_seen, wm)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vodflow-batch")

    def configure(self, spark):
        """The batch settings (``VODFLOW_EVENTS_SPARK_CONF``) on the query's session; returns it."""
        for k, v in self.cfg.sql_conf:
            spark.conf.set(k, v)
        return spark

    def previous_watermark(self, spark, batch_id: int) -> tuple[datetime | None, datetime | None]:
        """(max_client_ts, watermark) recorded by the last batch before ``batch_id``; (None, None) at first.
        (Rows an earlier release wrote have no max_client_ts and are passed over.)"""
        if self._last is not None and self._last[0] == batch_id - 1:
            return self._last[1], self._last[2]
        from pyspark.sql import functions as F

        rows = (spark.read.format("delta").load(GOLD_PROGRESS.location(self.s))
                .where((F.col("batch_id") < batch_id) & F.col("max_client_ts").isNotNull())
                .orderBy(F.col("batch_id").desc())
                .select("max_client_ts", "watermark").limit(1).collect())
        return (rows[0]["max_client_ts"], rows[0]["watermark"]) if rows else (None, None)

    def remember(self, batch_id: int, max_seen: datetime | None, watermark: datetime | None) -> None:
        """What ``batch_id`` recorded in gold_progress: the next batch's watermark, without reading it back."""
        self._last = (batch_id, max_seen, watermark)

    def __call__(self, df, batch_id: int) -> None:
        spark = self.configure(df.sparkSession)  # the query's own session: its conf and temp views are not shared
        if self.app_id is None:
            self.app_id = query_app_id(spark, self.cfg.checkpoint, QUERY)
        process_batch(spark, self.s, self.cfg, Txn(self.app_id, batch_id), df, self)


def process_batch(spark, s: Settings, cfg: StreamConfig, txn: Txn, df, runner: BatchRunner) -> dict:
    """One micro-batch of Kafka records → bronze, quarantine, silver, gold, gold_progress.

    Order: parse (the records read from Kafka once, parsed, validated and cached, flat); then bronze and
    quarantine (in the background) while the duplicates are found on the key columns; the silver
    append (background) while the gold half is collected and sessions merged (a small batch -
    ``txn.local`` - finds its duplicates and reduces its new events in the driver: no Spark job after
    the parse but the collects); then the four tables
    derived from it at the same time (playback_quality after the silver append); last the progress
    row, after every other write of the batch committed."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    batch_id = txn.version
    steps = Steps(spark.sparkContext, batch_id)
    cached, running = [], []

    def background(step: str, fn, *a):
        running.append(runner.pool.submit(_timed, steps, step, fn, txn, s, *a))
        return running[-1]

    def wait_all() -> None:
        try:
            for f in running:
                f.result()
        finally:
            running.clear()

    try:
        with steps("parse"):
            max_seen, wm = runner.previous_watermark(spark, batch_id)
            checked = S.check(S.raw_records(df)).persist()
            cached.append(checked)
            good_ts = F.when(F.col("kind").isNull(), F.col("client_ts"))
            c = checked.agg(F.count(F.lit(1)).alias("n"), F.count_if(F.col("kind").isNotNull()).alias("bad"),
                            F.max(good_ts).alias("mx"),
                            F.collect_set(F.date_trunc("minute", good_ts)).alias("minutes")).first()
        n = c["n"]
        if n == 0:
            return {"rows": 0}
        txn = txn.sized(n, cfg.local_rows)
        background("bronze", S.write_bronze, checked)
        n_late = n_dups = 0
        dropped = None
        with steps("silver"):
            if n > c["bad"] and txn.local:   # a small batch: the duplicates are found in the driver
                d = S.drops_local(s, S.batch_keys(checked), c["minutes"], wm)
                n_late = sum(d.column("_late").to_pylist())
                n_dups = d.num_rows - n_late
                if d.num_rows:
                    dropped = spark.createDataFrame(d, schema=S.DROPS_SCHEMA)
            elif n > c["bad"]:
                dropped = S.drops(spark, s, checked, c["minutes"], wm).persist()
                cached.append(dropped)
                d = dropped.agg(F.count_if("_late").alias("late"), F.count(F.lit(1)).alias("all")).first()
                n_late, n_dups = d["late"], d["all"] - d["late"]
        if c["bad"] or n_late:
            late_keys = dropped.where("_late").select("_p", "_o") if n_late else None
            background("quarantine", S.write_quarantine, checked, batch_id, late_keys, wm, cfg.lateness)
        new = S.new_events(checked, dropped if n_late + n_dups else None,
                           broadcast=n_late + n_dups <= BROADCAST_DROPS)
        gold = None
        if n - c["bad"] - n_late - n_dups:
            # the silver append runs beside the gold half: only playback_quality (startup percentiles
            # recomputed from silver) waits for it
            if txn.local:   # a small batch: its new events collected once, for delta-rs and DuckDB
                with steps("collect"):
                    rows = new.toArrow()
                    silver_append = background("silver_append", S.write_silver, rows)
                    gold = G.collect_local(rows)
            else:
                silver_append = background("silver_append", S.write_silver, new)
                with steps("collect"):
                    gold = G.collect(spark, new)
            G.write_gold(s, txn.app_id, batch_id, gold, runner.pool,
                         lambda name, fn, *a: _timed(steps, name, fn, *a), silver_append.result)
        wait_all()  # bronze, quarantine and silver committed before the progress row
        new_max = max([t for t in (max_seen, c["mx"]) if t is not None], default=None)
        wm_new = _minus(new_max, cfg.lateness)
        done = datetime.now(timezone.utc)
        fresh = R.freshness(gold.server_ds, done.timestamp(), gold.min_server_ts.timestamp()) if gold else None
        with steps("progress"):
            row = dict(zip(GOLD_PROGRESS.column_names, (
                batch_id, gold.events if gold else 0, gold.max_server_ts if gold else None,
                *(fresh or (None, None, None, None)), done, n, c["bad"] + n_late, new_max, wm_new,
                list({**steps.times, "total": steps.total()}.items()))))
            lake_rs.append(GOLD_PROGRESS, pa.Table.from_pylist([row], schema=arrow_schema(GOLD_PROGRESS)), s,
                           app_id=txn.app_id, version=batch_id)
        runner.remember(batch_id, new_max, wm_new)
        counts = {"rows": n, "quarantined": c["bad"] + n_late, "events": gold.events if gold else 0,
                  "freshness_p99_s": round(fresh[1], 1) if fresh else None, "steps": steps.times,
                  "total_s": steps.total()}
        log.info("batch %s: %s", batch_id, counts)
        return counts
    finally:
        try:
            wait_all()
        finally:
            for d in cached:
                d.unpersist()


def _timed(steps: "Steps", name: str, fn, *a):
    with steps(name):
        return fn(*a)


def _minus(ts: datetime | None, interval: str) -> datetime | None:
    """``ts - interval`` for a Spark interval string such as '15 minutes' (the lateness setting)."""
    return None if ts is None else ts - parse_interval(interval)


# ----------------------------------------------------------------------------- the query
def start(spark, s: Settings, cfg: StreamConfig, available_now: bool):
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", cfg.bootstrap)
              .options(**{f"kafka.{k}": v for k, v in cfg.kafka_conf})
              .option("subscribe", cfg.topic).option("startingOffsets", starting_offsets(spark, cfg)))
    if cfg.max_offsets:
        reader = reader.option("maxOffsetsPerTrigger", cfg.max_offsets)
    w = (reader.load().writeStream.queryName(QUERY).option("checkpointLocation", cfg.checkpoint)
         .foreachBatch(BatchRunner(s, cfg)))
    w = w.trigger(availableNow=True) if available_now else w.trigger(processingTime=cfg.trigger)
    return w.start()


def starting_offsets(spark, cfg: StreamConfig) -> str:
    """Where a new checkpoint starts reading: 'earliest', or - on a lake written by the two-query stream
    of earlier releases - just after the last batch its silver query committed, so an upgrade neither
    re-reads the topic into bronze nor skips a record. (Its gold query may have been behind silver:
    stop the old stream once `vodflow stream`/gold has caught up before upgrading.)"""
    old = f"{cfg.checkpoints}/silver"
    jvm = spark.sparkContext._jvm
    new_ckpt = jvm.org.apache.hadoop.fs.Path(cfg.checkpoint)
    fs = new_ckpt.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    commits = jvm.org.apache.hadoop.fs.Path(f"{old}/commits")
    if fs.exists(new_ckpt) or not fs.exists(commits):
        return "earliest"
    done = [int(st.getPath().getName()) for st in fs.listStatus(commits) if st.getPath().getName().isdigit()]
    if not done:
        return "earliest"
    lines = [r[0] for r in spark.read.text(f"{old}/offsets/{max(done)}").collect()]
    offsets = json.loads(lines[-1])
    if cfg.topic not in offsets:
        return "earliest"
    log.warning("new checkpoint %s: continuing from the earlier release's silver checkpoint at %s",
                cfg.checkpoint, offsets)
    return json.dumps({cfg.topic: offsets[cfg.topic]})


def prepare(spark, s: Settings) -> None:
    """Create missing tables and register them as ``vodflow.<table>``."""
    T.ensure(spark, s)
    T.register(spark, s)


def run_available_now(spark, s: Settings | None = None, cfg: StreamConfig | None = None) -> None:
    """Catch up: everything on the topic now → bronze … gold; returns when done."""
    s = s or get_settings()
    cfg = cfg or StreamConfig.from_settings(s)
    prepare(spark, s)
    q = start(spark, s, cfg, available_now=True)
    q.awaitTermination()
    if q.exception():
        raise RuntimeError(f"{q.name} failed: {q.exception()}")


def run_continuous(spark, s: Settings | None = None, cfg: StreamConfig | None = None,
                   heartbeat=None, stop_event=None) -> None:
    """The query until it fails or ``stop_event`` is set (then it stops gracefully)."""
    s = s or get_settings()
    cfg = cfg or StreamConfig.from_settings(s)
    prepare(spark, s)
    queries = [start(spark, s, cfg, False)]
    try:
        while True:
            for q in queries:
                if not q.isActive:
                    raise RuntimeError(f"{q.name} stopped: {q.exception()}")
            if heartbeat:
                heartbeat(queries)
            if stop_event is not None and stop_event.wait(2):
                break
            if stop_event is None:
                time.sleep(2)
    finally:
        for q in queries:
            try:
                q.stop()
            except Exception:  # noqa: BLE001 - stopping is best effort
                pass
