"""`vodflow upload --wait` on the running stack: a text file renamed .mp4 is accepted by the API (the
extension is allowed) and rejected by the real ingest; --wait follows it and exits 1 with the plain reason."""

from __future__ import annotations

from typer.testing import CliRunner


def test_upload_wait_exits_1_with_the_reason_of_a_rejected_title(stack, tmp_path):
    from authkit import admin_headers

    from vodflow.cli import app

    fake = tmp_path / "notes.mp4"
    fake.write_text("these are meeting notes, not a video\n" * 200)
    token = admin_headers(stack)["Authorization"].removeprefix("Bearer ")
    r = CliRunner().invoke(app, ["upload", str(fake), "--title", "Not a video (test)", "--wait", "--timeout", "600",
                                 "--api-url", stack.api_url, "--token", token])
    assert r.exit_code == 1, r.output
    assert "uploaded notes.mp4 as video" in r.output
    assert "status: failed" in r.output and "the title was rejected (" in r.output
    reason = r.output.split("the title was rejected (", 1)[1].split("): ", 1)[1].strip()
    assert len(reason) > 10 and "no reason recorded" not in reason and "rejected [" not in reason, r.output
