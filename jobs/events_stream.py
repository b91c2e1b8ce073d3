"""Watch analytics stream: Kafka `video_events` → bronze → silver / quarantine → gold (Delta).

    python jobs/events_stream.py --mode continuous        # the service `vodflow up` runs
    python jobs/events_stream.py --mode available-now     # catch up on everything, then exit
    spark-submit --master local[2] jobs/events_stream.py --mode available-now   (see `vodflow submit`)

Settings come from VODFLOW_* (topic, lake, trigger, lateness); see docs/analytics.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["continuous", "available-now"], default="continuous")
    ap.add_argument("--status-file", default=None,
                    help="continuous mode: JSON heartbeat with each query's last progress (for health checks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from vodflow.analytics import stream
    from vodflow.settings import get_settings
    from vodflow.spark import get_spark

    s = get_settings()
    spark = get_spark("vodflow-events-stream", s)
    if args.mode == "available-now":
        t0 = time.monotonic()
        stream.run_available_now(spark, s)
        print(f"events_stream: caught up in {time.monotonic() - t0:.1f} s")
        return 0

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def heartbeat(queries) -> None:
        if args.status_file:
            state = {"ts": time.time(), "queries": {q.name: {"active": q.isActive, "progress": q.lastProgress}
                                                     for q in queries}}
            with open(args.status_file + ".tmp", "w") as f:
                json.dump(state, f, default=str)
            import os

            os.replace(args.status_file + ".tmp", args.status_file)

    stream.run_continuous(spark, s, heartbeat=heartbeat, stop_event=stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
