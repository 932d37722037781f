"""Counters other parts of otel-agent report into: spans dropped or spooled by our pipeline.

Cheap and safe to call from anywhere, before or without any MeterProvider: totals are kept here and
published by the metrics processor's observable counters (``otel_agent.pipeline.spans.*``).
Component names are a fixed few chosen in our code (``sql_exporter``, ``spool``, ``sink``, ``metrics``):
never pass anything user-controlled.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_dropped: Counter[str] = Counter()
_spooled: Counter[str] = Counter()


def record_dropped(component: str, count: int = 1) -> None:
    """Count ``count`` spans that ``component`` had to drop (queue full, write failed for good, ...)."""
    if count > 0:
        with _lock:
            _dropped[component] += count


def record_spooled(component: str, count: int = 1) -> None:
    """Count ``count`` spans that ``component`` wrote to its on-disk spool instead of its destination."""
    if count > 0:
        with _lock:
            _spooled[component] += count


def dropped_totals() -> dict[str, int]:
    with _lock:
        return dict(_dropped)


def spooled_totals() -> dict[str, int]:
    with _lock:
        return dict(_spooled)
