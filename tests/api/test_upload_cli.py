"""The upload client and the `upload` / `api` commands against the live test server."""

from __future__ import annotations

import io

import httpx
import pytest
import typer
from apikit import free_port
from rich.console import Console
from typer.testing import CliRunner

from vodflow.api.upload_cli import UploadError, register, upload_file

MiB = 1024 * 1024


def test_upload_file_streams_with_a_progress_bar(api_url, api_settings, s3, tmp_path):
    src = tmp_path / "episode 1.mov"
    src.write_bytes(b"\x00\x00\x00\x14ftypqt  " + b"v" * (3 * MiB))
    out = io.StringIO()
    res = upload_file(src, "Episode 1", api_url, regions=["us", "gb"],
                      console=Console(file=out, force_terminal=True, width=120))
    assert res["status"] == "uploaded"
    shown = out.getvalue()
    assert "uploading episode 1.mov" in shown and "3.1/3.1 MB" in shown  # the bar reached the end
    row = httpx.get(f"{api_url}{res['status_url']}").json()
    assert row["title"] == "Episode 1" and row["regions"] == ["US", "GB"]
    head = s3.head_object(Bucket=api_settings.bucket_masters, Key=f"masters/{res['video_id']}/original.mov")
    assert head["ContentLength"] == src.stat().st_size and head["ContentType"] == "video/quicktime"


def test_upload_file_errors_name_the_fix(api_url, tmp_path):
    good = tmp_path / "a.mp4"
    good.write_bytes(b"x" * 10)
    with pytest.raises(UploadError, match=r"not reachable at .*start it with `vodflow up` or `vodflow api`"):
        upload_file(good, "t", f"http://127.0.0.1:{free_port()}", progress=False)
    bad = tmp_path / "a.gif"
    bad.write_bytes(b"GIF89a")
    with pytest.raises(UploadError, match="unsupported file type '.gif'") as e:
        upload_file(bad, "t", api_url, progress=False)
    assert e.value.status_code == 415
    empty = tmp_path / "e.mp4"
    empty.touch()
    with pytest.raises(UploadError, match="is empty"):
        upload_file(empty, "t", api_url, progress=False)
    with pytest.raises(UploadError, match=r"HTTP 422.*'Canada'"):
        upload_file(good, "t", api_url, regions="Canada", progress=False)
    with pytest.raises(UploadError, match="is not a file"):
        upload_file(tmp_path / "missing.mp4", "t", api_url, progress=False)
    with pytest.raises(UploadError, match=r"HTTP 401.*--token or VODFLOW_API_TOKEN") as e:
        upload_file(good, "t", api_url, progress=False, token="not-a-token")
    assert e.value.status_code == 401


def test_registered_commands(api_url, tmp_path):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """vodflow"""

    register(app)
    runner = CliRunner()
    src = tmp_path / "clip.ts"
    src.write_bytes(b"G" * 188 * 100)
    r = runner.invoke(app, ["upload", str(src), "--title", "Clip", "--regions", "US,CA", "--api-url", api_url])
    assert r.exit_code == 0, r.output
    assert "uploaded clip.ts as video" in r.output and "/videos/" in r.output

    r = runner.invoke(app, ["upload", str(src), "--title", "Clip", "--api-url", f"http://127.0.0.1:{free_port()}"])
    assert r.exit_code == 1 and "vodflow api" in r.output

    r = runner.invoke(app, ["api", "--help"])
    assert r.exit_code == 0 and "--port" in r.output
