"""`vodflow up`'s preflight names the fix for a bad ladder setting and checks VMAF when ladders are per-title."""

from __future__ import annotations

import os

import pytest

from vodflow.settings import load
from vodflow.stack.manager import StackError, preflight


def test_a_bad_ladder_setting_is_refused_naming_the_values():
    with pytest.raises(StackError, match="VODFLOW_LADDER='bogus': set it to per-title or fixed"):
        preflight(load({**os.environ, "VODFLOW_LADDER": "bogus"}))


def test_per_title_checks_vmaf_and_fixed_does_not_need_it(monkeypatch):
    from vodflow.media import vmaf

    def missing():
        raise vmaf.VmafUnavailable("imageio-ffmpeg is not installed: install it")

    monkeypatch.setattr(vmaf, "check_vmaf", missing)
    with pytest.raises(StackError, match=r"per-title ladders need VMAF: .* \(or set VODFLOW_LADDER=fixed\)"):
        preflight(load({**os.environ, "VODFLOW_LADDER": "per-title"}))
    preflight(load({**os.environ, "VODFLOW_LADDER": "fixed"}))     # no VMAF needed
