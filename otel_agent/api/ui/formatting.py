"""Jinja filters: how money, durations, counts and times read on the pages."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

DASH = "\u2014"


def usd(value: float | None) -> str:
    """Agent costs are often fractions of a cent: four decimals below a dollar."""
    if value is None:
        return DASH
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}"


def duration(ms: float | None) -> str:
    if ms is None:
        return DASH
    seconds = ms / 1000
    if seconds < 1:
        return f"{ms:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def number(value: int | float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def when(value: datetime | None) -> str:
    if value is None:
        return DASH
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return DASH
    now = now or datetime.now(timezone.utc)
    seconds = (now - (value if value.tzinfo else value.replace(tzinfo=timezone.utc))).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def seconds(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f} s"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}%"


def clip(value: Any, length: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[: length - 1] + "\u2026"


FILTERS = {
    "usd": usd,
    "duration": duration,
    "number": number,
    "when": when,
    "ago": ago,
    "seconds": seconds,
    "percent": percent,
    "clip": clip,
}
