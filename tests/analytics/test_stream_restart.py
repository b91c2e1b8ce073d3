"""Kill the continuous analytics stream twice during a backlog (SIGKILL of the whole process group,
JVM included), restart it from its checkpoint each time, run the maintenance DAG with dag.test() while
it is writing, and reconcile: bronze, silver and quarantine against what was produced (quarantine
record for record against the injected bad events), and every gold table against a recount from
silver - nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from vodflow.analytics import tables as T
from vodflow.analytics.events import EventValidationError, validate_event
from vodflow.analytics.simulate import simulate_sessions
from vodflow.analytics.stream import GOLD_PROGRESS
from vodflow.settings import REPO_ROOT, get_settings, load

DAG_TEST_IDS = ("analytics_maintenance",)
pytestmark = pytest.mark.usefixtures("scheduler_paused")


def expected(records: list[str]) -> dict:
    """What the tables must hold, computed in Python with the API's validator."""
    good: dict[str, dict] = {}
    bad = []
    for r in records:
        try:
            e = validate_event(r)
        except EventValidationError:
            bad.append(r)
            continue
        good.setdefault(e.event_id, json.loads(e.model_dump_json()))
    played = sum(e.get("played_s") or 0 for e in good.values() if e["type"] == "video_progress")
    return {"bronze": len(records), "silver": len(good), "quarantine": len(bad), "bad_records": sorted(bad),
            "sessions": len({e["session_id"] for e in good.values()}), "played_s": played}


class StreamProcess:
    def __init__(self, env: dict, status: Path, log: Path):
        self.env, self.status, self.log, self.proc = env, status, log, None

    def start(self):
        self.status.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "jobs" / "events_stream.py"), "--mode", "continuous",
             "--status-file", str(self.status)], env=self.env, stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def gold_events(s) -> int:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        t = DeltaTable(GOLD_PROGRESS.location(s)).to_pyarrow_table(columns=["events"])
    except TableNotFoundError:
        return 0
    return int(sum(t["events"].to_pylist()))


def wait_until(cond, timeout, proc: StreamProcess, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.proc.poll() is not None:
            pytest.fail(f"the stream exited ({proc.proc.returncode}) while waiting for {what}:\n{proc.tail()}")
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}:\n{proc.tail()}")


def test_kill_restart_and_maintenance_reconcile(events_topic_settings, spark, tmp_path, monkeypatch):
    from kafka import KafkaProducer

    env = {**os.environ, "VODFLOW_TOPIC_EVENTS": events_topic_settings.topic_events,
           "VODFLOW_LAKE_URI": str(tmp_path / "lake"), "VODFLOW_EVENTS_TRIGGER": "2 seconds",
           "VODFLOW_EVENTS_LATENESS": "7 days", "VODFLOW_EVENTS_MAX_OFFSETS": "400"}
    s = load(env)
    sim = simulate_sessions(16, 15, [str(uuid.uuid4()) for _ in range(6)], seed=11, dup_rate=0.03,
                            malformed_rate=0.01)
    records = [e if isinstance(e, str) else json.dumps(e) for e in sim.events]
    chunks = [records[: len(records) // 2], records[len(records) // 2: 3 * len(records) // 4],
              records[3 * len(records) // 4:]]
    want = expected(records)
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=5)

    def produce(chunk):
        for r in chunk:
            try:
                key = json.loads(r).get("session_id", "").encode()
            except (ValueError, AttributeError):
                key = None
            producer.send(s.topic_events, key=key, value=r.encode())
        producer.flush()

    proc = StreamProcess(env, tmp_path / "status.json", tmp_path / "stream.log")
    try:
        produce(chunks[0])
        proc.start()
        # crash while the stream is mid-way through the first chunk (maxOffsetsPerTrigger keeps batches small)
        wait_until(lambda: 0 < gold_events(s), 240, proc, "the first gold batch")
        assert gold_events(s) < want["silver"]
        proc.kill()                                                # 1st SIGKILL, mid-backlog
        produce(chunks[1])
        proc.start()                                               # restart from the checkpoint
        before = gold_events(s)
        wait_until(lambda: gold_events(s) > before, 240, proc, "a gold batch after the first restart")
        assert gold_events(s) < want["silver"]
        proc.kill()                                                # 2nd SIGKILL, still mid-backlog
        proc.start()
        produce(chunks[2][: len(chunks[2]) // 2])
        # maintenance while the stream is writing. The DAG declares the stack's assets (the lake's tables as
        # deployed; gold/user_title is the one recs_training is scheduled on); its tasks run with this test's
        # lake and topic, and a threshold no test reaches, so it announces nothing that would start
        # recs_training in the stack. dag.test() parses the file again in-process when a task starts, under
        # this test's environment: the asset URIs are pinned to the stack's (assetkit).
        from airflow.dag_processing.dagbag import DagBag
        from assetkit import pin_stack_asset_uris

        pin_stack_asset_uris(monkeypatch)
        dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "analytics_maintenance.py")).get_dag("analytics_maintenance")
        for k in ("VODFLOW_TOPIC_EVENTS", "VODFLOW_LAKE_URI"):
            monkeypatch.setenv(k, env[k])
        monkeypatch.setenv("VODFLOW_RECS_RETRAIN_MIN_CHANGES", str(10**12))
        get_settings.cache_clear()
        produce(chunks[2][len(chunks[2]) // 2:])
        run = dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states["optimize"] == "success" and states["vacuum"] == "success", states
        assert states["announce_user_title"] == "skipped", states   # below the retraining threshold
        assert states["sync_titles"] == "success", states          # the stack's catalog, named in this lake
        wait_until(lambda: gold_events(s) >= want["silver"], 600, proc, "gold to catch up")
    finally:
        proc.stop()
        producer.close()
        monkeypatch.undo()
        get_settings.cache_clear()

    def count(name):
        return spark.read.format("delta").load(T.TABLES[name].location(s)).count()

    assert count("bronze_events") == want["bronze"]
    assert count("events") == want["silver"]
    assert count("quarantine") == want["quarantine"]
    quarantined = spark.read.format("delta").load(T.QUARANTINE.location(s)).select("value").collect()
    assert sorted(r["value"] for r in quarantined) == want["bad_records"]      # record for record
    assert gold_events(s) == want["silver"]                       # each silver event folded into gold once
    sessions = spark.read.format("delta").load(T.SESSIONS.location(s))
    agg = sessions.selectExpr("count(*) AS n", "sum(events) AS ev", "sum(played_s) AS played").first()
    assert (agg["n"], agg["ev"]) == (want["sessions"], want["silver"])
    assert agg["played"] == pytest.approx(want["played_s"])
    daily = spark.read.format("delta").load(T.TITLE_DAILY.location(s)).selectExpr(
        "sum(views) AS v", "sum(watch_time_s) AS w").first()
    assert daily["v"] == want["sessions"] and daily["w"] == pytest.approx(want["played_s"])
    ut = spark.read.format("delta").load(T.USER_TITLE.location(s)).selectExpr("sum(watch_time_s) AS w").first()
    assert ut["w"] == pytest.approx(want["played_s"])
    assert_gold_matches_a_recount_from_silver(spark, s)


def rows_by(df, key: tuple[str, ...]) -> dict:
    return {tuple(r[k] for k in key): r.asDict() for r in df.collect()}


def assert_same(gold: dict, recount: dict, what: str) -> None:
    assert gold.keys() == recount.keys(), f"{what}: keys differ"
    for k, want in recount.items():
        for col, v in want.items():
            got = gold[k][col]
            if isinstance(v, float):
                assert got == pytest.approx(v), f"{what} {k} {col}: {got} != {v}"
            else:
                assert got == v, f"{what} {k} {col}: {got} != {v}"


def assert_gold_matches_a_recount_from_silver(spark, s) -> None:
    """Every gold table recomputed from scratch from silver with plain Spark SQL equals what the stream's
    incremental batches (with two crashes in between) left there."""
    def load(t):
        return spark.read.format("delta").load(t.location(s))

    load(T.SILVER).createOrReplaceTempView("recount_events")
    sessions = spark.sql("""
        SELECT session_id, min_by(user_id, client_ts) AS user_id, min_by(video_id, client_ts) AS video_id,
               min(client_ts) AS started_at, max(client_ts) AS last_event_at, count(*) AS events,
               coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), 0D) AS played_s,
               max(type = 'video_completed') AS completed, count_if(type = 'rebuffer_end') AS rebuffers,
               coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS rebuffer_ms,
               count_if(type = 'video_seek') AS seeks, count_if(type = 'bitrate_switch') AS switches
        FROM recount_events GROUP BY session_id""")
    sessions.createOrReplaceTempView("recount_sessions")
    cols = sessions.columns
    assert_same(rows_by(load(T.SESSIONS).select(*cols), ("session_id",)), rows_by(sessions, ("session_id",)),
                "sessions")
    for table, key, expr in ((T.TITLE_DAILY, "date", "to_date(started_at)"),
                             (T.TITLE_HOURLY, "hour", "date_trunc('HOUR', started_at)")):
        recount = spark.sql(f"""
            SELECT video_id, {expr} AS {key}, count(*) AS views, count(DISTINCT user_id) AS unique_viewers,
                   sum(played_s) AS watch_time_s, count_if(completed) AS completions
            FROM recount_sessions GROUP BY 1, 2""")
        assert_same(rows_by(load(table).select(*recount.columns), ("video_id", key)),
                    rows_by(recount, ("video_id", key)), table.name)
    ut = spark.sql("""SELECT user_id, video_id, count(*) AS sessions, sum(played_s) AS watch_time_s,
                             max(completed) AS completed, max(last_event_at) AS last_watched
                      FROM recount_sessions GROUP BY 1, 2""")
    assert_same(rows_by(load(T.USER_TITLE).select(*ut.columns), ("user_id", "video_id")),
                rows_by(ut, ("user_id", "video_id")), "user_title")
    pq = spark.sql("""
        SELECT event_date AS date, rung, device, count_if(type = 'startup') AS startups,
               coalesce(sum(CASE WHEN type = 'video_progress' THEN played_s END), 0D) AS played_s,
               count_if(type = 'rebuffer_end') AS rebuffers,
               coalesce(sum(CASE WHEN type = 'rebuffer_end' THEN duration_ms END), 0) AS rebuffer_ms
        FROM recount_events GROUP BY 1, 2, 3""")
    assert_same(rows_by(load(T.PLAYBACK_QUALITY).select(*pq.columns), ("date", "rung", "device")),
                rows_by(pq, ("date", "rung", "device")), "playback_quality")
