"""Upload front door: camcorder and Blu-ray names are MPEG-TS and accepted; obvious non-videos are not."""

import pytest

from vodflow.api.formats import CONTENT_TYPES, UnsupportedFormat, extension_of


@pytest.mark.parametrize("name", ["clip.MTS", "00001.m2ts", "a.ts", "dvd.vob", "tape.mpg"])
def test_transport_and_program_streams_are_accepted(name):
    ext = extension_of(name)
    assert CONTENT_TYPES[ext] in ("video/mp2t", "video/mpeg")


def test_non_videos_are_refused_with_the_list():
    with pytest.raises(UnsupportedFormat, match="'.txt'.*mts.*m2ts"):
        extension_of("notes.txt")
