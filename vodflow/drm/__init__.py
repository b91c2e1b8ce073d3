"""DRM: per-title CENC keys encrypted at rest (:mod:`.keystore`) and the W3C ClearKey license
endpoint (:mod:`.license`). See docs/playback.md, section "DRM"."""

from __future__ import annotations

from vodflow.settings import Settings, get_settings

MODES = ("clearkey", "off")


def drm_mode(s: Settings | None = None) -> str:
    """``VODFLOW_DRM``: ``clearkey`` (encrypt every title) or ``off``."""
    s = s or get_settings()
    mode = (s["VODFLOW_DRM"] or "clearkey").strip().lower()
    if mode not in MODES:
        raise ValueError(f"VODFLOW_DRM={s['VODFLOW_DRM']!r} is not one of {', '.join(MODES)}")
    return mode


def packaging_key(video_id: str, s: Settings | None = None):
    """The :class:`~vodflow.media.package.RawKey` to package ``video_id`` with, or None when DRM is off.

    Idempotent: a rerun of the title's ingest gets the same key (see ``KeyStore.get_or_create``).
    """
    s = s or get_settings()
    if drm_mode(s) == "off":
        return None
    from vodflow.drm.keystore import KeyStore

    keys = KeyStore(s).get_or_create(video_id)
    return keys[0]


__all__ = ["MODES", "drm_mode", "packaging_key"]
