"""ingest_dispatch's fan-out: every request in a (folded) asset-triggered run gets its own run id."""

from types import SimpleNamespace

from vodflow.ingest.dispatch import requests_from_events, run_id_for, trigger_kwargs


def ev(**payload):
    return SimpleNamespace(extra={"payload": payload})


def test_folded_events_become_one_run_each_in_kafka_order():
    events = {"asset": [ev(video_id="b", source_key="masters/b/original.mp4", title="B", partition=0, offset=8),
                        ev(video_id="a", source_key="masters/a/original.mp4", title="A", partition=0, offset=7)]}
    kw = trigger_kwargs(events)
    assert [k["trigger_run_id"] for k in kw] == ["ingest__a__k0-7", "ingest__b__k0-8"]
    assert kw[0]["conf"] == {"video_id": "a", "s3_key": "masters/a/original.mp4", "title": "A"}


def test_redelivered_message_is_deduplicated_and_junk_ignored():
    same = dict(video_id="a", source_key="masters/a/original.mp4", title="A", partition=0, offset=7)
    events = {"asset": [ev(**same), ev(**same), SimpleNamespace(extra={"note": "posted by hand"}),
                        SimpleNamespace(extra=None)]}
    assert len(requests_from_events(events)) == 1
    assert trigger_kwargs(None) == []


def test_run_ids_are_deterministic_and_airflow_safe():
    by_key = {"source_key": "masters/x y/original.mp4", "title": ""}
    rid = run_id_for(by_key)
    assert rid == run_id_for(dict(by_key)) and rid.startswith("ingest__key-")
    assert all(c.isalnum() or c in "_.-" for c in rid)
    assert run_id_for({"video_id": "v", "partition": 1, "offset": 2}) == "ingest__v__k1-2"
