"""Does the profile's S3 server honour put-if-absent (``If-None-Match: *`` on PutObject)? The question behind
point 5 of docs/reliability.md's "Delta on S3 with concurrent writers": a conditional-put LogStore (delta-rs's
``conditional_put=etag``, Hadoop S3A's conditional create) is only safe when the second put of a key is refused.

Puts one key twice with ``IfNoneMatch="*"`` into a scratch prefix of the masters bucket and records the
answers (201/200 then 412 = honoured; 200 twice = ignored, the second put overwrote the first), then deletes
the key. ``--racers N`` then puts one fresh key from N threads at once (the check-then-write race of a server
that looks before it writes): atomic only when exactly one put answers 2xx. Needs the stack's S3 server up
(``--profile cluster`` for the cluster profile's), or any S3 server with ``--endpoint`` (the bucket is
created there). Run::

    .venv/bin/python bench/s3_put_if_absent.py --profile cluster
    .venv/bin/python bench/s3_put_if_absent.py --endpoint http://127.0.0.1:29310 --racers 8 --server "moto 5.2.5"

With ``--server NAME`` the answer is kept under ``runs`` / NAME in bench/results/s3_put_if_absent.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
RESULTS = ROOT / "bench" / "results" / "s3_put_if_absent.json"


def probe(s3, bucket: str) -> dict:
    from botocore.exceptions import ClientError

    key = f"probe/put-if-absent-{uuid.uuid4().hex}"
    answers = []
    try:
        for body in (b"first", b"second"):
            try:
                r = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
                answers.append(r["ResponseMetadata"]["HTTPStatusCode"])
            except ClientError as e:
                answers.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    return {"answers": answers, "stored": stored, "honoured": answers[1] == 412 and stored == "first"}


def race(s3, bucket: str, racers: int, rounds: int) -> dict:
    """``rounds`` fresh keys, each put by ``racers`` threads at once with If-None-Match: *; a round is atomic
    when exactly one put succeeds and the stored body is that put's."""
    import threading

    from botocore.exceptions import ClientError

    bad = []
    for r in range(rounds):
        key = f"probe/put-if-absent-race-{uuid.uuid4().hex}"
        start, codes = threading.Barrier(racers), {}

        def put(i: int) -> None:
            start.wait()
            try:
                codes[i] = s3.put_object(Bucket=bucket, Key=key, Body=f"racer-{i}".encode(),
                                         IfNoneMatch="*")["ResponseMetadata"]["HTTPStatusCode"]
            except ClientError as e:
                codes[i] = e.response["ResponseMetadata"]["HTTPStatusCode"]

        threads = [threading.Thread(target=put, args=(i,)) for i in range(racers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        won = [i for i, c in codes.items() if 200 <= c < 300]
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        s3.delete_object(Bucket=bucket, Key=key)
        if len(won) != 1 or stored != f"racer-{won[0]}":
            bad.append({"round": r, "succeeded": len(won), "stored": stored})
    return {"racers": racers, "rounds": rounds, "rounds_not_atomic": len(bad), "examples": bad[:3],
            "atomic": not bad}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("embedded", "cluster"), default="embedded")
    ap.add_argument("--endpoint", help="another S3 server to probe (its bucket --bucket is created)")
    ap.add_argument("--bucket", default="vodflow-put-if-absent-probe", help="bucket with --endpoint")
    ap.add_argument("--racers", type=int, default=0, help="also race N concurrent puts of one key (0: no)")
    ap.add_argument("--rounds", type=int, default=20, help="keys raced with --racers (20)")
    ap.add_argument("--server", help="name the server: the answer is kept in bench/results/s3_put_if_absent.json")
    args = ap.parse_args(argv)
    from vodflow.stack.profile import apply

    apply(args.profile)
    if args.endpoint:
        os.environ["VODFLOW_S3_ENDPOINT"] = args.endpoint
    from vodflow.clients import s3_client
    from vodflow.settings import get_settings

    s = get_settings()
    s3 = s3_client(s)
    bucket = args.bucket if args.endpoint else s.bucket_masters
    if args.endpoint and bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    res = {"endpoint": s.s3_endpoint, **probe(s3, bucket)}
    if args.racers:
        res["race"] = race(s3, bucket, args.racers, args.rounds)
    print(json.dumps(res))
    if args.server:
        from datetime import datetime, timezone

        from benchkit import commit, merge_results

        run = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit(),
               "command": " ".join(["bench/s3_put_if_absent.py", *(argv or sys.argv[1:])]),
               "load": [round(x, 1) for x in os.getloadavg()], **res}
        # the file's date and commit are its newest run's; ``runs`` keeps one entry per server tried
        merge_results(RESULTS, {"date": run["date"], "commit": run["commit"], "runs": {args.server: run}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
