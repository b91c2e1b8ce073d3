"""Does the profile's S3 server honour put-if-absent (``If-None-Match: *`` on PutObject)? The question behind
point 5 of docs/reliability.md's "Delta on S3 with concurrent writers": a conditional-put LogStore (delta-rs's
``conditional_put=etag``, Hadoop S3A's conditional create) is only safe when the second put of a key is refused.

Puts one key twice with ``IfNoneMatch="*"`` into a scratch prefix of the masters bucket and records the
answers (201/200 then 412 = honoured; 200 twice = ignored, the second put overwrote the first), then deletes
the key. Needs the stack's S3 server up; ``--profile cluster`` for the cluster profile's. Run::

    .venv/bin/python bench/s3_put_if_absent.py --profile cluster
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=("embedded", "cluster"), default="embedded")
    args = ap.parse_args(argv)
    from vodflow.stack.profile import apply

    apply(args.profile)
    from vodflow.clients import s3_client
    from vodflow.settings import get_settings

    s = get_settings()
    res = {"endpoint": s.s3_endpoint, **probe(s3_client(s), s.bucket_masters)}
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
