"""Debian's chromium, headless, driven by Playwright: the browser of the tests in tests/web/."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@contextlib.contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator["object"]:
    """A launched ``playwright`` Browser (fails the test with the fix when chromium is missing)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])
        yield b
        b.close()
