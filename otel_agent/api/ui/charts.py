"""Geometry of the cost page's server-rendered SVG chart: cost per day, stacked by group.

Pure functions over numbers; the template draws the rectangles. No chart library, nothing to download.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from otel_agent.api.ui.cost_series import DailyCost

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#94a3b8")
OTHER = "other"
WIDTH, HEIGHT = 760, 240
LEFT, BOTTOM, TOP = 64, 28, 12  # room for the axis labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass
class StackedChart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, color)
    total_usd: float = 0.0


def stacked_daily(points: list[DailyCost], first_day: datetime, days: int) -> StackedChart:
    """One bar a day (days without cost stay empty), the biggest groups in colour, the rest as "other"."""
    colors = _colors(points)
    per_day: dict[datetime, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in points:
        per_day[p.day][_label(p.group) if _label(p.group) in colors else OTHER] += p.cost_usd
    top = _nice_max(max((sum(v.values()) for v in per_day.values()), default=0.0))
    chart = StackedChart(legend=list(colors.items()), total_usd=sum(p.cost_usd for p in points))
    slot = (WIDTH - LEFT) / days
    scale = (chart.baseline - TOP) / top
    for index in range(days):
        day = first_day + timedelta(days=index)
        chart.bars += _stack(
            per_day.get(day, {}), colors, LEFT + index * slot, slot, scale, chart.baseline, day
        )
    chart.y_ticks = [
        Tick(chart.baseline - top * f * scale, _usd_label(top * f)) for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    every = max(1, math.ceil(days / 8))
    chart.x_ticks = [
        Tick(LEFT + (i + 0.5) * slot, (first_day + timedelta(days=i)).strftime("%b %d"))
        for i in range(0, days, every)
    ]
    return chart


def _stack(
    costs: dict[str, float],
    colors: dict[str, str],
    x: float,
    slot: float,
    scale: float,
    baseline: float,
    day: datetime,
) -> list[Bar]:
    bars, y = [], baseline
    width = max(1.0, slot * 0.72)
    for label, color in colors.items():
        cost = costs.get(label, 0.0)
        if cost <= 0:
            continue
        height = cost * scale
        y -= height
        title = f"{day:%Y-%m-%d} {label}: ${cost:,.4f}"
        bars.append(
            Bar(
                round(x + (slot - width) / 2, 2), round(y, 2), round(width, 2), round(height, 2), color, title
            )
        )
    return bars


def _colors(points: list[DailyCost]) -> dict[str, str]:
    totals: dict[str, float] = defaultdict(float)
    for p in points:
        totals[_label(p.group)] += p.cost_usd
    ranked = sorted(totals, key=lambda label: (-totals[label], label))
    if len(ranked) > len(PALETTE):
        ranked = [*ranked[: len(PALETTE) - 1], OTHER]
    return {label: PALETTE[i] for i, label in enumerate(ranked)}


def _label(group: str | None) -> str:
    return "(none)" if group is None else str(group)


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least the value (and never 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _usd_label(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}".rstrip("0")
