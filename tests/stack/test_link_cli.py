"""`make install` puts `vodflow` on PATH (scripts/link-cli.sh) so the README's commands run as written;
it never takes over a `vodflow` that belongs to another checkout or was not made by it."""

from __future__ import annotations

import os
import subprocess

from vodflow.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "link-cli.sh"


def link(bin_dir, path: str) -> str:
    env = {**os.environ, "VODFLOW_BIN_DIR": str(bin_dir), "PATH": path}
    r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_links_the_cli_and_the_link_runs_it(tmp_path):
    bin_dir = tmp_path / "bin"
    out = link(bin_dir, os.environ["PATH"])
    assert "linked" in out and f"{bin_dir} is not on your PATH" in out and "export PATH" in out
    target = REPO_ROOT / ".venv" / "bin" / "vodflow"
    assert (bin_dir / "vodflow").resolve() == target.resolve()
    r = subprocess.run(["vodflow", "--help"], env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "videos" in r.stdout and "upload" in r.stdout
    out = link(bin_dir, f"{bin_dir}:{os.environ['PATH']}")
    assert "already linked" in out and "not on your PATH" not in out


def test_leaves_another_checkouts_cli_alone(tmp_path):
    other = tmp_path / "other-checkout" / ".venv" / "bin" / "vodflow"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "vodflow").symlink_to(other)
    out = link(tmp_path / "bin", os.environ["PATH"])
    assert "kept" in out and "ln -sfn" in out
    assert (tmp_path / "bin" / "vodflow").resolve() == other
    (tmp_path / "bin" / "vodflow").unlink()
    (tmp_path / "bin" / "vodflow").write_text("pip-installed\n")
    assert "not a link made by vodflow" in link(tmp_path / "bin", os.environ["PATH"])
