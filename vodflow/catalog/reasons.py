"""The catalog's ``error`` column read back: ``"<rejected|failed> [<code>]: <one plain sentence>"``.

The ingest writes it with ``vodflow.ingest.pipeline.failure_text``: ``rejected`` is bad input (the
uploader's file), ``failed`` a fault on our side. Older rows and other writers (the API's Kafka
outage note) hold free text, which is kept whole. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_REASON = re.compile(r"^(rejected|failed) \[([^\]]+)\]:\s*(.*)$", re.S)


@dataclass(frozen=True)
class Reason:
    kind: str            # "rejected" | "failed" | "" (free text)
    code: str            # e.g. "audio_only", "encode_failed"; "" for free text
    text: str            # the plain sentence


def split_reason(error: Optional[str]) -> Optional[Reason]:
    """``error`` as kind, code and sentence (``None`` when there is no error)."""
    if not error or not error.strip():
        return None
    m = _REASON.match(error.strip())
    return Reason(*m.groups()) if m else Reason("", "", error.strip())


def describe(error: Optional[str]) -> str:
    """One line for a person: "the title was rejected (audio_only): The file has ..."."""
    r = split_reason(error)
    if r is None:
        return "the title was not published (no reason recorded)"
    if r.kind == "rejected":
        return f"the title was rejected ({r.code}): {r.text}"
    if r.kind == "failed":
        return f"the ingest failed ({r.code}): {r.text}"
    return f"the title was not published: {r.text}"
