"""Durations as people write them: ``90``, ``90s``, ``10m``, ``2h``, ``90d``, ``1w`` -> seconds."""

from __future__ import annotations

import re

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError naming the accepted forms otherwise."""
    match = _DURATION.fullmatch(text or "")
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h, 90d, 1w)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]
