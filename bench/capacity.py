"""Capacity model: per-core figures read from bench/results/*.json -> the size of a large service.

    .venv/bin/python bench/capacity.py          # rewrites docs/capacity.md and scale.json's per_core

Nothing is measured here: every per-core figure is read from the results file a benchmark wrote (named
next to it in the output), so rerunning a benchmark and then this script updates the model. The few
inputs that no results file holds yet are listed in ``DOCUMENTED`` with the page they come from, and the
service's own assumptions (peak-to-average, interactions per member, ...) in ``ASSUMED``; both are printed
in the tables, so nothing passes for a measurement that is not one.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "capacity.md"

# The large service (issue 18)
TARGET = {"members": 200e6, "peak_events_s": 10e6, "encode_cpu_hours_week": 2400, "concurrent_streams": 100e6}

# Figures measured on this machine but only written in docs (no results file yet): (value, unit, source)
DOCUMENTED = {
    "play_cpu_ms": (1.4, "CPU ms per /play request (token, account, cached title and signature, license token)",
                    "docs/benchmarks-playback.md (bench/playback_api.py writes bench/out/, not committed)"),
    "edge_rps_2_cores": (6400, "edge requests/s, warm cache, 128 KB segments, nginx + wrk on the same 2 cores",
                         "docs/benchmarks-playback.md (bench/playback_edge.py prints, writes no results file)"),
}

# Assumptions about the large service, not measurements
ASSUMED = {
    "node_cores": (32, "cores per node"),
    "peak_to_average": (3.0, "peak event rate / daily average"),
    "headroom": (1.5, "spare capacity on top of the peak (failures, rebalancing, catch-up)"),
    "broker_mb_s": (300.0, "MB/s a broker sustains in + out (disk and NIC; NOT measured here)"),
    "partition_events_s": (None, "events/s one partition carries = what one stream core drains (measured)"),
    "interactions_per_member": (200, "user-title pairs per member in the ALS input"),
    "als_window_h": (4.0, "hours a daily ALS retrain may take"),
    "session_min": (45.0, "minutes of an average viewing session (one /play + one license per session)"),
    "segment_s": (6.0, "seconds per media segment (vodflow/media/package.py SEGMENT_DURATION)"),
    "avg_kbps": (3000.0, "average delivered bitrate, kbit/s"),
    "event_bytes_kafka": (None, "bytes of one event on Kafka (JSON, measured from the simulator below)"),
    "retention_days": (7, "days the events topic keeps"),
    "lake_years": (1, "years of silver events kept in the lake"),
}


def read(name: str) -> dict:
    p = RESULTS / name
    if not p.exists():
        raise SystemExit(f"{p} is missing: run the benchmark that writes it (see docs/benchmarks.md)")
    return json.loads(p.read_text())


def event_bytes() -> float:
    """Mean JSON size of the simulator's events (what the producer sends)."""
    sys.path.insert(0, str(ROOT))
    from vodflow.analytics.simulate import simulate_sessions, synthetic_catalog

    sim = simulate_sessions(300, 10, synthetic_catalog(50), seed=7, dup_rate=0, late_rate=0, malformed_rate=0)
    sizes = [len(json.dumps(e)) for e in sim.events]
    return sum(sizes) / len(sizes)


def per_core() -> dict:
    """Every per-core figure with its source."""
    a = read("analytics_stream.json")
    cores_a = a.get("details", {}).get("machine", {}).get("cores", 2)
    pt = read("per_title.json")
    clips = [c for c in pt["clips"] if c.get("time")]
    content_s = sum(c["source"]["seconds"] for c in clips)
    fixed_rungs = sum(len(c["fixed"]) for c in clips)
    pt_rungs = sum(len(c["per_title"]) for c in clips)
    t = lambda k: sum(c["time"][k] for c in clips)  # noqa: E731
    r = read("recs.json")
    als = r["time_split"]["spark-als-implicit"]
    rows = r["splits"]["time_split"]["train_rows"]
    out = {
        "events_per_core_s": (a["events_per_core_second"], "events/core-s into gold (every table)",
                              f"analytics_stream.json events_per_core_second ({a['date'][:10]}, {a['commit']})"),
        "events_floor_per_core_s": (round(a["floor_rate"] / cores_a), "events/core-s, Kafka -> one Delta append",
                                    "analytics_stream.json floor_rate / cores"),
        "encode_s_per_content_s": (round(t("fixed_encode_cpu_s") / content_s, 3),
                                   "CPU s per content s, the whole fixed ladder",
                                   f"per_title.json clips[].time.fixed_encode_cpu_s ({len(clips)} clips, "
                                   f"{content_s:.0f} content s)"),
        "encode_s_per_content_s_per_rung": (round(t("fixed_encode_cpu_s") / content_s / (fixed_rungs / len(clips)), 3),
                                            "CPU s per content s per rung (fixed ladder)",
                                            f"same / {fixed_rungs / len(clips):.1f} rungs a clip"),
        "per_title_encode_s_per_content_s": (round(t("per_title_encode_cpu_s") / content_s, 3),
                                             "CPU s per content s, the per-title ladder",
                                             f"per_title.json time.per_title_encode_cpu_s ({pt_rungs / len(clips):.1f}"
                                             " rungs a clip)"),
        "per_title_analysis_s_per_content_s": (round(t("analysis_cpu_s") / content_s, 3),
                                               "CPU s per content s, the per-title analysis",
                                               "per_title.json time.analysis_cpu_s"),
        "als_s_per_m_interactions_core": (round(als["train_s"] * cores_a / (rows / 1e6), 1),
                                          "core-s per million interactions, Spark ALS (implicit)",
                                          f"recs.json time_split.spark-als-implicit.train_s ({als['train_s']:.1f} s, "
                                          f"{rows:,} rows, local[{cores_a}])"),
        "play_per_core_s": (round(1000 / DOCUMENTED["play_cpu_ms"][0]), "/play (+ license) requests per core-s",
                            "1000 / " + DOCUMENTED["play_cpu_ms"][2]),
        "edge_requests_per_core_s": (round(DOCUMENTED["edge_rps_2_cores"][0] / 2), "edge requests per core-s",
                                     DOCUMENTED["edge_rps_2_cores"][2] + " / 2 cores"),
    }
    return out


def size(pc: dict) -> tuple[list[tuple], dict]:
    A = {k: v for k, (v, _) in ASSUMED.items()}
    A["event_bytes_kafka"] = round(event_bytes())
    A["partition_events_s"] = pc["events_per_core_s"][0]
    node, head = A["node_cores"], A["headroom"]
    rows = []
    keys = {}

    def add(what, value, unit, how, key=None):
        rows.append((what, value, unit, how))
        if key:
            keys[key] = value

    # events
    ev = TARGET["peak_events_s"]
    stream_cores = math.ceil(ev / pc["events_per_core_s"][0] * head)
    floor_cores = math.ceil(ev / pc["events_floor_per_core_s"][0] * head)
    add("stream cores (peak, today's job)", stream_cores, "cores",
        f"10M/s ÷ events_per_core_s × headroom {head}", "stream_cores")
    add("stream cores at the floor (parse + one append)", floor_cores, "cores", "10M/s ÷ floor × headroom")
    add("stream nodes", math.ceil(stream_cores / node), f"{node}-core nodes", "stream cores ÷ node cores", "stream_nodes")
    parts = 2 ** math.ceil(math.log2(max(1, ev / A["partition_events_s"])))
    add("events topic partitions", parts, "partitions",
        "10M/s ÷ what one stream core drains, rounded up to a power of 2 (one task per partition)", "partitions")
    mb_in = ev * A["event_bytes_kafka"] / 1e6
    rf = 3
    broker_mb = mb_in * rf + mb_in  # replicated writes + one consumer group reading
    brokers = max(3, math.ceil(broker_mb * head / A["broker_mb_s"]))
    add("Kafka ingress at peak", round(mb_in), "MB/s", f"{A['event_bytes_kafka']} B/event (simulator JSON)")
    add("Kafka brokers", brokers, "brokers", f"(ingress × RF {rf} + one reader) × headroom ÷ {A['broker_mb_s']:.0f} MB/s",
        "brokers")
    avg_ev = ev / A["peak_to_average"]
    kafka_tb = avg_ev * 86400 * A["retention_days"] * A["event_bytes_kafka"] * rf / 1e12
    add("Kafka storage", round(kafka_tb), "TB", f"average rate × {A['retention_days']} days × RF {rf}", "kafka_tb")
    sc = _scale()
    if sc.get("lake_bytes_per_event", {}).get("silver"):
        bpe, src = sc["lake_bytes_per_event"]["silver"], "scale.json lake_bytes_per_event.silver (measured)"
    else:
        bpe, src = A["event_bytes_kafka"] / 5, "assumed: JSON ÷ 5 in Parquet (no lake measurement yet)"
    lake_tb = avg_ev * 86400 * 365 * A["lake_years"] * bpe / 1e12
    add("lake storage, silver events", round(lake_tb), "TB", f"average rate × {A['lake_years']} y × {bpe:.0f} B/event "
        f"({src}); bronze about the same again", "lake_tb")
    # encoding
    enc_cores = A_enc = TARGET["encode_cpu_hours_week"] / (7 * 24)
    content_h = TARGET["encode_cpu_hours_week"] / (pc["per_title_encode_s_per_content_s"][0]
                                                   + pc["per_title_analysis_s_per_content_s"][0])
    add("encode cores (average)", round(enc_cores, 1), "cores", "2,400 CPU-h ÷ 168 h", "encode_cores")
    add("encode cores (peak, releases batched ×3)", math.ceil(A_enc * 3 * head), "cores", "× 3 × headroom")
    add("content a week those 2,400 CPU-h encode", round(content_h), "content hours",
        "÷ (per-title encode + analysis CPU s per content s)", "content_hours_week")
    # recommendations
    inter_m = TARGET["members"] * A["interactions_per_member"] / 1e6
    als_core_s = inter_m * pc["als_s_per_m_interactions_core"][0]
    als_cores = math.ceil(als_core_s / (A["als_window_h"] * 3600))
    add("ALS input", round(inter_m), "M interactions", f"200M members × {A['interactions_per_member']}")
    add("ALS cores for a daily retrain", als_cores, "cores",
        f"interactions × core-s per M ÷ {A['als_window_h']:.0f} h (linear: an upper bound, see below)", "als_cores")
    # playback
    streams = TARGET["concurrent_streams"]
    starts = streams / (A["session_min"] * 60)
    play_cores = math.ceil(2 * starts / pc["play_per_core_s"][0] * head)  # /play + license per start
    seg_rps = streams / A["segment_s"]
    edge_cores = math.ceil(seg_rps / pc["edge_requests_per_core_s"][0] * head)
    egress_tbps = streams * A["avg_kbps"] / 1e9
    add("session starts", round(starts), "starts/s", f"100M ÷ {A['session_min']:.0f} min sessions")
    add("API cores (/play + license)", play_cores, "cores", "2 requests a start ÷ play_per_core_s × headroom",
        "api_cores")
    add("edge requests", round(seg_rps), "requests/s", f"100M streams ÷ {A['segment_s']:.0f} s segments")
    add("edge cores", edge_cores, "cores", "÷ edge_requests_per_core_s × headroom", "edge_cores")
    add("edge egress", round(egress_tbps), "Tbit/s", f"100M × {A['avg_kbps']:.0f} kbit/s", "egress_tbps")
    add("edge nodes if a node serves 100 Gbit/s", math.ceil(egress_tbps * 1000 / 100 * head), "nodes",
        "egress ÷ 100 Gbit/s × headroom (bandwidth, not CPU, sizes the edge)", "edge_nodes")
    keys["assumed"] = {k: A[k] for k in ASSUMED}
    return rows, keys


def _scale() -> dict:
    p = RESULTS / "scale.json"
    return json.loads(p.read_text()) if p.exists() else {}


def markdown(pc: dict, rows: list[tuple], keys: dict) -> str:
    L = ["# Capacity model: figures measured on this machine", "",
         "Generated by `bench/capacity.py` from `bench/results/*.json` (rerun it after a benchmark: "
         "`.venv/bin/python bench/capacity.py`). Per-core figures come from benchmarks run on this project's "
         "machine kind (2 cores, 24 GiB, everything on one host, usually shared: the load average is in each "
         "results file); the service's assumptions are listed separately and are not measurements.", "",
         "## Per-core figures", "", "| figure | value | unit | from |", "| --- | ---: | --- | --- |"]
    for k, (v, unit, src) in pc.items():
        L.append(f"| `{k}` | {v:,} | {unit} | {src} |")
    L += ["", "## Assumptions about the large service", "", "| assumption | value | meaning |", "| --- | ---: | --- |"]
    for k, (v, meaning) in ASSUMED.items():
        L.append(f"| `{k}` | {keys['assumed'][k]:,} | {meaning} |")
    L += ["", f"## A large service: {TARGET['members'] / 1e6:.0f}M members, {TARGET['peak_events_s'] / 1e6:.0f}M "
          f"events/s at peak, {TARGET['encode_cpu_hours_week']:,} CPU-hours of encoding a week, "
          f"{TARGET['concurrent_streams'] / 1e6:.0f}M concurrent streams", "",
          "| quantity | value | unit | how |", "| --- | ---: | --- | --- |"]
    for what, v, unit, how in rows:
        L.append(f"| {what} | {v:,} | {unit} | {how} |")
    k = keys
    total_cpu = k["stream_cores"] + k["api_cores"] + k["edge_cores"] + math.ceil(k["encode_cores"]) + k["als_cores"]
    L += ["", "## What dominates the cost", "",
          f"- **Delivery bandwidth.** {k['egress_tbps']:,} Tbit/s of egress needs ~{k['edge_nodes']:,} edge nodes "
          "at 100 Gbit/s each; the CPU the edge spends on requests "
          f"({k['edge_cores']:,} cores at the measured nginx rate) is small beside it. In money this is the CDN bill, "
          "far above everything else here.",
          f"- **The event stream** is the largest CPU consumer among vodflow's own jobs: {k['stream_cores']:,} cores "
          f"({k['stream_nodes']:,} nodes) at today's events per core, against "
          f"{rows[1][1]:,} at the floor (parse + one Delta append). The gap between the two is the job's per-event "
          "work (validation, dedup MERGE, five gold tables) and its per-batch fixed cost; it is the figure that "
          "moves most with the stream's optimisation (issue 13), and rerunning this script picks it up.",
          f"- **Kafka** needs {k['brokers']:,} brokers and {k['partitions']:,} partitions of the events topic at peak "
          f"and {k['kafka_tb']:,} TB for a week of retention; broker throughput is an assumption (not measured "
          "on this machine, where Kafka was never the bottleneck).",
          f"- **Encoding** is small by comparison: {k['encode_cores']} cores on average for 2,400 CPU-hours a week "
          f"(~{k['content_hours_week']:,} content hours a week of per-title ladders at the measured rate).",
          f"- **ALS** for 200M members: {k['als_cores']:,} cores to retrain daily in the window. The figure is "
          "linear from a 80k-row run dominated by Spark's fixed costs, so it is an upper bound per interaction.",
          f"- **The API** ({k['api_cores']:,} cores for /play and licenses) is modest: session starts, not "
          "segment requests, reach it.",
          "", f"CPU in total (stream + API + edge + encode + ALS, with headroom): ~{total_cpu:,} cores, "
          f"~{math.ceil(total_cpu / keys['assumed']['node_cores']):,} {keys['assumed']['node_cores']}-core nodes; "
          f"storage: {k['kafka_tb']:,} TB on brokers, ~{k['lake_tb']:,} TB of silver events a year in the lake.",
          "", "## Calibration from the cluster rehearsal", ""]
    sc = _scale()
    r1, r2 = sc.get("stream_rate_1_worker"), sc.get("stream_rate_2_workers")
    if r1 and r2:
        by = "scale_rates" if (sc.get("rates_run") or {}).get("stream_rate_1_worker") == r1 else "scale_faults"
        L.append(f"`bench/{by}.py` (bench/results/scale.json, {sc.get('date', '')[:16]}) drained the same "
                 f"backlog on the cluster profile at {r2:,} events/s with 2 Spark workers and {r1:,} with 1: "
                 f"ratio {r2 / r1:.2f}. {sc.get('stream_rate_note', '')} On this 2-core machine the two workers "
                 "share the same cores with the driver, Kafka, the other engineers' work and everything else, so "
                 "the ratio measures the load of the moment and the overhead of a second executor (shuffle "
                 "between executors, task scheduling), not a speed-up; the model above assumes linear scaling per "
                 "core, which a real cluster's separate machines approach only when partitions ≥ cores.")
    else:
        L.append("No stream rate on 1 vs 2 workers in bench/results/scale.json yet (bench/scale_faults.py).")
    L += ["", *_rates_calibration(sc)]
    L.append("")
    return "\n".join(L)


def _rates_calibration(sc: dict) -> list[str]:
    """The stream and the encode pool on 1 vs 2 workers in one run (bench/scale_rates.py), if measured."""
    run = sc.get("rates_run") or {}
    e1, e2 = run.get("encode_rate_1_worker"), run.get("encode_rate_2_workers")
    s1, s2 = run.get("stream_rate_1_worker"), run.get("stream_rate_2_workers")
    if not (e1 and e2) and not (s1 and s2):
        return ["No encode rate on 1 vs 2 Celery workers in bench/results/scale.json yet (bench/scale_rates.py)."]
    def when(part: str) -> str:
        m = run.get(f"{part}_meta", {})
        return (f"{m.get('date', '')[11:16]} UTC, load average {m.get('machine', {}).get('load_start', ['?'])[0]}"
                f" to {m.get('machine', {}).get('load_end', ['?'])[0]}")

    commits = {m["commit"] for p in ("stream", "encode") if (m := run.get(f"{p}_meta", {})).get("commit")}
    if len(commits) > 1:  # the parts were measured in different sessions (--skip): each names its commit
        out = ["`bench/scale_rates.py` measured each pool on the cluster profile on 2 workers then 1 in the same "
               "run (stream at commit " + run["stream_meta"]["commit"] + ", encode at commit "
               + run["encode_meta"]["commit"] + "):"]
    else:
        out = [f"`bench/scale_rates.py` ({run.get('date', '')[:10]}, commit {run.get('commit')}) measured both "
               "pools in one session of the cluster profile, each on 2 workers then 1 in the same run:"]
    if s1 and s2:
        out.append(f"- stream ({when('stream')}): {s2:,} events/s on 2 Spark workers, {s1:,} on 1 (ratio "
                   f"{s2 / s1:.2f}; events over the micro-batches' own seconds).")
    if e1 and e2:
        w2, w1 = run["encode_2_workers"], run["encode_1_worker"]
        out.append(f"- encode pool ({when('encode')}): {e2} content s per wall s on 2 Celery workers ({w2['titles']} titles, "
                   f"{w2['wall_s']} s; transcodes by worker {w2.get('transcodes_by_worker')}), {e1} on 1 "
                   f"({w1['wall_s']} s; {w1.get('transcodes_by_worker')}): ratio {e2 / e1:.2f}."
                   + (f" {sc['encode_rate_note']}" if sc.get("encode_rate_note") else ""))
    out.append("On 2 shared cores a second worker adds a process, not a core: a ratio near 1 (or below) is the "
               "overhead of spreading the work (a second JVM executor or Celery worker, the shuffle and the "
               "queue between them), which is what the model's per-core figures must absorb; linear scaling "
               "per core is the assumption for machines that each bring their own cores.")
    return out


def main() -> int:
    pc = per_core()
    rows, keys = size(pc)
    DOC.write_text(markdown(pc, rows, keys))
    p = RESULTS / "scale.json"
    sc = _scale()
    sc["per_core"] = {k: v for k, (v, _, _) in pc.items()}
    sc["per_core_sources"] = {k: src for k, (_, _, src) in pc.items()}
    sc["large_service"] = {k: v for k, v in keys.items() if k != "assumed"}
    sc["capacity_date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    p.write_text(json.dumps(sc, indent=2, default=str) + "\n")
    print(DOC.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
