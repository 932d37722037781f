"""Exact percentiles from segment marks and slices (otel_agent.store.ranks) against sorting everything."""

from __future__ import annotations

import random

import pytest

from otel_agent.store import ranks
from otel_agent.store.report import percentile


def _segments(rng: random.Random, every: int, count: int) -> list[tuple[ranks.Segment, list[float]]]:
    """Random segments, some stored (marks only), some read (all values), each with all its values."""
    segments = []
    for i in range(count):
        size = rng.choice([0, 1, every - 1, every, every + 1, rng.randint(0, 12 * every)])
        values = sorted(round(rng.uniform(0, 50), rng.choice([0, 2])) for _ in range(size))  # with ties
        marks = values[every - 1 :: every]
        stored = ranks.Segment(size, marks, every, key=i)
        segments.append((ranks.Segment(size, values=values) if rng.random() < 0.3 else stored, values))
    return segments


def _read(chosen: ranks.Plan, everything: dict[int, list[float]]) -> dict[tuple[int, int, int], list[float]]:
    return {
        (s.key, first, last): everything[s.key][first - 1 : last]
        for s, first, last in chosen.slices
        if s.values is None
    }


@pytest.mark.parametrize("seed", range(60))
def test_percentiles_equal_a_full_sort(seed: int) -> None:
    rng = random.Random(seed)
    every = rng.choice([1, 2, 4, 8])
    pairs = _segments(rng, every, rng.randint(1, 9))
    segments = [s for s, _ in pairs]
    everything = {s.key: values for s, values in pairs if s.values is None}
    flat = [v for _, values in pairs for v in values]
    for fraction in (0.0, 0.01, 0.5, 0.95, 0.99, 1.0):
        chosen = ranks.plan(segments, fraction)
        if not flat:
            assert chosen is None
            continue
        assert chosen is not None
        assert ranks.pick(chosen, _read(chosen, everything)) == percentile(flat, fraction)


def test_only_about_every_values_per_segment_are_read() -> None:
    rng = random.Random(7)
    every = 64
    stored, everything = [], {}
    for key in range(30):
        values = sorted(rng.uniform(200, 10_000) for _ in range(6000))
        everything[key] = values
        stored.append(ranks.Segment(len(values), values[every - 1 :: every], every, key=key))
    chosen = ranks.plan(stored, 0.95)
    assert chosen is not None
    read = sum(last - first + 1 for _, first, last in chosen.slices)
    assert read <= 2 * every * len(stored)  # vs 180,000 values in all
    flat = [v for values in everything.values() for v in values]
    assert ranks.pick(chosen, _read(chosen, everything)) == percentile(flat, 0.95)
