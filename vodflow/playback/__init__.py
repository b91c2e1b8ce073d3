"""Playback entitlements: ``GET /videos/{id}/play`` (``play``). See docs/playback.md."""
