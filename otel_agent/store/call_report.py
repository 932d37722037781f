"""The report by model or provider read from the LLM-call roll-up (PostgreSQL): same figures as the raw
statement in otel_agent.store.report, exact, percentiles included, in a few small queries.

1. Fingerprint the window's runs per (day, workspace) and compare with the roll-up's: days that match
   are read from the roll-up; the others (today, the window's first, partly covered day, anything
   written since the day was built) from the raw rows, by ``call_aggregate``: the same aggregate the
   roll-up was built with.
2. Counts, tokens and cost add up across days (a run belongs to the day it started, so its distinct
   count per group adds up too).
3. p50 / p95 per group: ``ranks.plan`` picks, from each stored day's marks, the few positions that can
   hold the percentile; one query reads those slices of the stored durations; ``ranks.pick`` finishes.

Used for windows selected by workspace and time alone (the API's and the CLI's default); narrower
filters (project, stage, ...) are not in the roll-up's key and take the raw statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timezone
from typing import Any

import sqlalchemy as sa

from otel_agent.store import ranks
from otel_agent.store.call_rollup import call_aggregate, day_range, fingerprints, stored_fingerprints
from otel_agent.store.models import call_rollup_days, call_rollups
from otel_agent.store.queries import RunFilter

FRACTIONS = (0.5, 0.95)
_SUMMED = ("calls", "runs", "ended", "succeeded", "input_tokens", "output_tokens", "cost_usd")


@dataclass
class _Group:
    totals: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(_SUMMED, 0))
    segments: list[ranks.Segment] = field(default_factory=list)

    def add(self, row: Any, segment: ranks.Segment) -> None:
        for name in _SUMMED:
            self.totals[name] += row[name]
        if segment.size:
            self.segments.append(segment)


def usable(where: RunFilter) -> bool:
    return where.since is not None and not where.narrower_than_workspace()


def report_rows(conn: sa.Connection, where: RunFilter, grouping: str) -> list[dict[str, Any]]:
    """Rows shaped like the raw statement's: group, runs, ended, succeeded, calls, p (p50, p95 in
    seconds), input_tokens, output_tokens, cost_usd."""
    assert where.since is not None
    actual = fingerprints(conn, where.where())
    first = where.since.astimezone(timezone.utc).date()
    stored = stored_fingerprints(
        conn, [call_rollup_days.c.day >= first, where.workspace_condition(call_rollup_days.c.workspace)]
    )
    clean = sorted(day for day, prints in actual.items() if stored.get(day) == prints)
    changed = sorted(set(actual) - set(clean))
    groups: dict[Any, _Group] = {}
    for row in _stored_rows(conn, where, grouping, clean):
        segment = ranks.Segment(row["size"], row["marks"], row["mark_every"], key=row["id"])
        groups.setdefault(row["value"], _Group()).add(row, segment)
    for row in _raw_rows(conn, where, grouping, changed):
        durations = row["durations"]
        groups.setdefault(row["value"], _Group()).add(row, ranks.Segment(len(durations), values=durations))
    percentiles = _percentiles(conn, groups)
    return [{"group": value, **g.totals, "p": percentiles[value]} for value, g in groups.items()]


def _stored_rows(conn: sa.Connection, where: RunFilter, grouping: str, days: list[date]) -> Iterable[Any]:
    if not days:
        return []
    c = call_rollups.c
    query = sa.select(
        c.id,
        c.value,
        *(c[n] for n in _SUMMED),
        sa.func.cardinality(c.durations).label("size"),
        c.marks,
        c.mark_every,
    ).where(c.grouping == grouping, c.day.in_(days), where.workspace_condition(c.workspace))
    return conn.execute(query).mappings()


def _raw_rows(conn: sa.Connection, where: RunFilter, grouping: str, days: list[date]) -> Iterable[Any]:
    if not days:
        return []
    in_days = sa.or_(*(day_range(day) for day in days))
    return conn.execute(call_aggregate(grouping, [*where.where(), in_days])).mappings()


def _percentiles(conn: sa.Connection, groups: dict[Any, _Group]) -> dict[Any, tuple[float | None, ...]]:
    plans = {
        (value, fraction): ranks.plan(group.segments, fraction)
        for value, group in groups.items()
        for fraction in FRACTIONS
    }
    wanted = {
        (segment.key, first, last)
        for chosen in plans.values()
        if chosen is not None
        for segment, first, last in chosen.slices
        if segment.values is None
    }
    read = _read_slices(conn, wanted)
    result = {}
    for value in groups:
        chosen_plans = (plans[(value, fraction)] for fraction in FRACTIONS)
        result[value] = tuple(None if p is None else ranks.pick(p, read) / 1000.0 for p in chosen_plans)
    return result


_SLICES = sa.text("""
SELECT s.id, s.first, s.last, r.durations[s.first:s.last] AS part
FROM unnest(CAST(:ids AS bigint[]), CAST(:firsts AS int[]), CAST(:lasts AS int[])) AS s(id, first, last)
JOIN otel_call_rollups r ON r.id = s.id
""")


def _read_slices(
    conn: sa.Connection, wanted: set[tuple[int, int, int]]
) -> dict[tuple[int, int, int], list[float]]:
    if not wanted:
        return {}
    ids, firsts, lasts = (list(column) for column in zip(*sorted(wanted), strict=True))
    rows = conn.execute(_SLICES, {"ids": ids, "firsts": firsts, "lasts": lasts})
    return {(row.id, row.first, row.last): row.part for row in rows}
