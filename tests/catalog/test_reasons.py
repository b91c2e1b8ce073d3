"""Reading the catalog's error column back (vodflow/catalog/reasons.py) with the texts the ingest writes."""

from __future__ import annotations

from vodflow.catalog.reasons import Reason, describe, split_reason
from vodflow.ingest.pipeline import failure_text, internal_failure_reason


def test_a_rejection_reads_as_one_sentence_without_a_repeated_word():
    error = failure_text("rejected", "audio_only", "The file has sound but no picture.")
    assert split_reason(error) == Reason("rejected", "audio_only", "The file has sound but no picture.")
    assert describe(error) == "the title was rejected (audio_only): The file has sound but no picture."


def test_an_internal_failure_is_not_called_a_rejection():
    error = internal_failure_reason("encode", RuntimeError("/tmp/x: boom"))
    r = split_reason(error)
    assert (r.kind, r.code) == ("failed", "encode_failed") and "/tmp/x" not in r.text
    assert describe(error).startswith("the ingest failed (encode_failed): Processing stopped inside vodflow")


def test_free_text_and_no_error():
    note = "Kafka is unavailable: retry with POST /videos/x/ingest"
    assert split_reason(note) == Reason("", "", note)
    assert describe(note) == f"the title was not published: {note}"
    assert split_reason(None) is None and split_reason("  ") is None
    assert describe(None) == "the title was not published (no reason recorded)"
