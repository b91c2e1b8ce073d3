"""What the uploader reads when a title fails: one plain sentence with a code, never a path or a raw exception.

No stack needed: these drive the pipeline's own stage wrapper with real ffmpeg failures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vodflow.ingest.pipeline import (IngestRejected, StageFailed, _Stage, failure_text,
                                     internal_failure_reason)
from vodflow.media import make_storyboard
from vodflow.media.probe import InvalidSourceError, validate_source

FORMAT = re.compile(r"^(rejected|failed) \[([a-z_]+)\]: ([A-Z][^\n]*\.)$")


def _assert_plain_catalog_text(text: str) -> str:
    m = FORMAT.match(text)
    assert m, text
    sentence = m.group(3)
    for bad in ("/", "Error", "Traceback", "ffmpeg", "@ 0x", "RuntimeError"):
        assert bad not in sentence, f"{bad!r} in {sentence}"
    return m.group(2)


def test_a_crash_inside_a_stage_is_reported_plainly(tmp_path):
    missing = tmp_path / "renditions" / "234p_145k.mp4"
    with pytest.raises(StageFailed) as err:
        with _Stage("storyboard"):
            make_storyboard(missing, tmp_path / "thumbs")
    assert str(missing) in str(err.value.__cause__) or err.value.__cause__ is not None  # the log keeps it
    text = internal_failure_reason("transcode", err.value)
    assert _assert_plain_catalog_text(text) == "storyboard_failed"
    assert "storyboard" in text and str(tmp_path) not in text


def test_a_crash_outside_any_stage_names_the_step(tmp_path):
    text = internal_failure_reason("inspect", RuntimeError(f"boom at {tmp_path}/x.mp4"))
    assert _assert_plain_catalog_text(text) == "inspect_failed"
    assert str(tmp_path) not in text


def test_rejections_carry_the_code_and_the_plain_reason(tmp_path):
    empty = tmp_path / "original.mts"
    empty.touch()
    with pytest.raises(InvalidSourceError) as err:
        validate_source(empty)
    rej = IngestRejected(err.value.reason, err.value.code, err.value.details)
    assert _assert_plain_catalog_text(failure_text("rejected", rej.code, rej.reason)) == "empty"


def test_stage_wrapper_lets_rejections_through():
    with pytest.raises(IngestRejected):
        with _Stage("encode"):
            raise IngestRejected("The file is empty: upload it again.", "empty")


def test_catalog_text_pattern_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "media.md").read_text()
    assert "rejected [<code>]" in doc and "failed [<stage>_failed]" in doc
