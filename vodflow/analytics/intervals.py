"""Spark-style interval settings ('15 minutes', '10 seconds', '7 days') as Python durations.

One parser for every interval-valued ``VODFLOW_EVENTS_*`` setting, with an error that names the
setting's form when the text is not one.
"""

from __future__ import annotations

from datetime import timedelta

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def interval_seconds(text: str) -> float:
    """'15 minutes' -> 900.0; raises ValueError naming the accepted form."""
    try:
        n, unit = text.split()
        return float(n) * _UNITS[unit.lower().rstrip("s")]
    except (ValueError, KeyError):
        raise ValueError(f"{text!r} is not an interval: write '<number> <unit>' with unit one of "
                         f"{', '.join(u + 's' for u in _UNITS)} (e.g. '15 minutes')") from None


def parse_interval(text: str) -> timedelta:
    return timedelta(seconds=interval_seconds(text))
