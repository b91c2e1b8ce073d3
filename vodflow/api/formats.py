"""File names the upload front door accepts and their Content-Types. No heavy imports:
the `vodflow` command line uses this too.

The extension only keeps obvious non-videos (.txt, .gif) out at upload time; what a master *is* is
decided by probing its content in the ingest `inspect` step (vodflow.media.probe), so a camcorder
``.mts``, a Blu-ray ``.m2ts`` or a mislabelled file is judged by its container, not its name."""

from __future__ import annotations

CONTENT_TYPES = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
    "m4v": "video/x-m4v",
    "avi": "video/x-msvideo",
    "ts": "video/mp2t",
    "mxf": "application/mxf",
    "mts": "video/mp2t",        # AVCHD camcorder: MPEG-TS
    "m2ts": "video/mp2t",       # Blu-ray BDAV: MPEG-TS with 4-byte timecodes
    "m2t": "video/mp2t",
    "mpg": "video/mpeg",
    "mpeg": "video/mpeg",
    "vob": "video/mpeg",
    "3gp": "video/3gpp",
    "ogv": "video/ogg",
    "flv": "video/x-flv",
    "wmv": "video/x-ms-wmv",
}
ALLOWED_EXTENSIONS = tuple(CONTENT_TYPES)


class UnsupportedFormat(ValueError):
    """The file name's extension is not an accepted master container."""


def extension_of(filename: str) -> str:
    """Lower-cased extension of ``filename`` if it is a supported master container, else UnsupportedFormat."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in CONTENT_TYPES:
        shown = f"'.{ext}'" if ext else "no extension"
        raise UnsupportedFormat(f"unsupported file type {shown} ({name!r}); upload a video master with "
                                f"one of the extensions: {', '.join(ALLOWED_EXTENSIONS)}")
    return ext
