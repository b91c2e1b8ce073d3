"""The local Kafka's cluster id must never start with '-' (the storage tool would read it as an option:
a fresh `vodflow up` then failed about once in 64 installs)."""

from __future__ import annotations

import uuid

from vodflow.settings import load
from vodflow.stack import services


def test_cluster_id_never_starts_with_a_dash(tmp_path, monkeypatch):
    ids = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(services.uuid, "uuid4", lambda: next(ids))
    s = load({"VODFLOW_HOME": str(tmp_path)})
    cid = services._kafka_cluster_id(s)
    assert not cid.startswith("-") and len(cid) == 22
    assert services._kafka_cluster_id(s) == cid  # kept: the same id on every start
