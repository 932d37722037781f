"""Exact nearest-rank percentiles over many sorted segments, reading only a few values of each.

A segment is one roll-up row's durations (ascending) of which only the *marks* are at hand: the values
at positions ``every``, ``2 * every``, ... (1-based; ``every`` is stored with the row). The marks bound
how many values of the segment lie at or below any x, to within ``every``. So the k-th smallest value v
of all segments together lies between two neighbouring marks x_lo < v <= x_hi, and only the positions
of each segment that can hold a value in (x_lo, x_hi] need reading: about ``every`` per segment. Every
position before those holds a value <= x_lo (there are ``below`` of them), every position after them a
value > x_hi, hence v = the (k - below)-th smallest of the values read. Segments whose values are all
at hand (computed from raw rows) take part with exact counts.

``plan`` says which positions to read; ``pick`` takes them and returns v. Nearest rank is what
``percentile_disc`` and ``otel_agent.store.report.percentile`` compute: k = ceil(fraction * n).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    size: int
    marks: Sequence[float] = ()
    every: int = 1  # marks[j - 1] is the value at position j * every
    values: Sequence[float] | None = None  # all of them, ascending, when already read
    key: Any = None  # how the caller reads a slice of a stored segment (its row id)


@dataclass(frozen=True)
class Plan:
    rank: int  # k, 1-based, over all segments
    below: int  # values at positions before the slices (all <= x_lo)
    slices: tuple[tuple[Segment, int, int], ...]  # (segment, first, last): 1-based, inclusive


def nearest_rank(size: int, fraction: float) -> int:
    return max(1, math.ceil(fraction * size))


def plan(segments: Sequence[Segment], fraction: float) -> Plan | None:
    """Which positions to read for the ``fraction`` percentile; None when there are no values."""
    size = sum(s.size for s in segments)
    if size == 0:
        return None
    k = nearest_rank(size, fraction)
    candidates = sorted({m for s in segments if s.values is None for m in s.marks})
    # Bounds on how many values are <= x: at least ``_at_least``, at most ``_at_most``; both grow with x.
    hi_i = _first(candidates, lambda x: _at_least(segments, x) >= k)
    lo_i = _first(candidates, lambda x: _at_most(segments, x) >= k) - 1
    x_lo = candidates[lo_i] if lo_i >= 0 else -math.inf
    x_hi = candidates[hi_i] if hi_i < len(candidates) else math.inf
    slices, below = [], 0
    for segment in segments:
        first, last = _positions(segment, x_lo, x_hi)
        below += first - 1
        if first <= last:
            slices.append((segment, first, last))
    return Plan(k, below, tuple(slices))


def pick(chosen: Plan, read: Mapping[tuple[Any, int, int], Sequence[float]]) -> float:
    """The k-th smallest value, given the stored slices ``read`` (keyed by (key, first, last))."""
    values: list[float] = []
    for segment, first, last in chosen.slices:
        if segment.values is not None:
            values.extend(segment.values[first - 1 : last])
        else:
            values.extend(read[(segment.key, first, last)])
    values.sort()
    return values[chosen.rank - chosen.below - 1]


def _first(candidates: Sequence[float], holds: Any) -> int:
    """Index of the first candidate for which the monotone ``holds`` is true (len if none)."""
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(candidates[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _at_least(segments: Sequence[Segment], x: float) -> int:
    total = 0
    for s in segments:
        total += bisect_right(s.values, x) if s.values is not None else s.every * bisect_right(s.marks, x)
    return total


def _at_most(segments: Sequence[Segment], x: float) -> int:
    total = 0
    for s in segments:
        if s.values is not None:
            total += bisect_right(s.values, x)
        else:
            total += min(s.size, s.every * (bisect_right(s.marks, x) + 1) - 1)
    return total


def _positions(segment: Segment, x_lo: float, x_hi: float) -> tuple[int, int]:
    """The 1-based positions of ``segment`` that may hold a value in (x_lo, x_hi]."""
    if segment.values is not None:
        return bisect_right(segment.values, x_lo) + 1, bisect_right(segment.values, x_hi)
    every = segment.every
    first = every * bisect_right(segment.marks, x_lo) + 1
    last = min(segment.size, every * (bisect_right(segment.marks, x_hi) + 1) - 1)
    return first, last
