"""The report by model or provider read from the LLM-call roll-up (PostgreSQL): same figures as the raw
statement in otel_agent.store.report, exact, percentiles included, in a few small queries.

1. Fingerprint the window's runs per (hour, workspace) and compare with the roll-up's: a day wholly in
   the window whose fingerprint matches is read from its day rows; otherwise each of its hours wholly in
   the window whose fingerprint matches from its hour rows; what is left (the hour the window starts in,
   the last hour or so, anything written since it was built) from the raw rows, by ``call_aggregate``:
   the aggregate the roll-up was built with.
2. Counts, tokens and cost add up across periods (a run belongs to the hour it started in, so its
   distinct count per group adds up too).
3. p50 / p95 per group: ``ranks.plan`` picks, from each stored period's marks, the few positions that
   can hold the percentile; one query reads those slices of the stored durations; ``ranks.pick``
   finishes.

Used for windows selected by workspace and time alone (the API's and the CLI's default); narrower
filters (project, stage, ...) are not in the roll-up's key and take the raw statement.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from otel_agent.store import ranks
from otel_agent.store.call_rollup import (
    HOUR,
    call_aggregate,
    day_of,
    fingerprints,
    per_day,
    started_within,
    stored_fingerprints,
)
from otel_agent.store.models import call_rollup_periods, call_rollups
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


@dataclass
class _Sources:
    days: list[datetime] = field(default_factory=list)  # stored day rows
    hours: list[datetime] = field(default_factory=list)  # stored hour rows
    raw_hours: list[datetime] = field(default_factory=list)  # read from the runs and steps


def usable(where: RunFilter) -> bool:
    return where.since is not None and not where.narrower_than_workspace()


class RebuiltMeanwhile(Exception):
    """A stored period was rebuilt between two reads of one report (its rows have new ids)."""


def report_rows(conn: sa.Connection, where: RunFilter, grouping: str) -> list[dict[str, Any]] | None:
    """Rows shaped like the raw statement's: group, runs, ended, succeeded, calls, p (p50, p95 in
    seconds), input_tokens, output_tokens, cost_usd. None if the roll-up changed under the report
    (a rebuild needs its period quiet for 10 minutes, so only a very slow report can see that)."""
    try:
        return _report_rows(conn, where, grouping)
    except RebuiltMeanwhile:
        return None


def _report_rows(conn: sa.Connection, where: RunFilter, grouping: str) -> list[dict[str, Any]]:
    sources = _sources(conn, where)
    groups: dict[Any, _Group] = {}
    for row in _stored_rows(conn, where, grouping, sources):
        segment = ranks.Segment(row["size"], row["marks"], row["mark_every"], key=row["id"])
        groups.setdefault(row["value"], _Group()).add(row, segment)
    for row in _raw_rows(conn, where, grouping, sources.raw_hours):
        durations = row["durations"]
        groups.setdefault(row["value"], _Group()).add(row, ranks.Segment(len(durations), values=durations))
    percentiles = _percentiles(conn, groups)
    return [{"group": value, **g.totals, "p": percentiles[value]} for value, g in groups.items()]


def _sources(conn: sa.Connection, where: RunFilter) -> _Sources:
    """Where each hour of the window is read from."""
    assert where.since is not None
    since = where.since
    hourly = fingerprints(conn, where.where())
    p = call_rollup_periods.c
    in_workspace = where.workspace_condition(p.workspace)
    stored_days = stored_fingerprints(conn, "day", [p.starts_at >= day_of(since), in_workspace])
    sources = _Sources()
    hours_of: dict[datetime, list[datetime]] = {}
    for hour in hourly:
        hours_of.setdefault(day_of(hour), []).append(hour)
    for day, prints in per_day(hourly).items():
        if day >= since and stored_days.get(day) == prints:
            sources.days.append(day)
    # Only the hours of the other days (the window's first and last, those written lately) are looked up.
    hours = [hour for day, hours in hours_of.items() if day not in sources.days for hour in hours]
    stored_hours = stored_fingerprints(conn, "hour", [p.starts_at.in_(hours), in_workspace]) if hours else {}
    for hour in hours:
        stored = hour >= since and stored_hours.get(hour) == hourly[hour]
        (sources.hours if stored else sources.raw_hours).append(hour)
    return sources


def _stored_rows(conn: sa.Connection, where: RunFilter, grouping: str, sources: _Sources) -> Iterable[Any]:
    if not (sources.days or sources.hours):
        return []
    c = call_rollups.c
    periods = sa.or_(
        sa.and_(c.period == "day", c.starts_at.in_(sources.days)),
        sa.and_(c.period == "hour", c.starts_at.in_(sources.hours)),
    )
    size = sa.cast(sa.func.octet_length(c.durations) / 8, sa.Integer).label("size")
    query = sa.select(c.id, c.value, *(c[n] for n in _SUMMED), size, c.marks, c.mark_every)
    query = query.where(c.grouping == grouping, periods, where.workspace_condition(c.workspace))
    return conn.execute(query).mappings()


def _raw_rows(conn: sa.Connection, where: RunFilter, grouping: str, hours: list[datetime]) -> Iterable[Any]:
    if not hours:
        return []
    return conn.execute(call_aggregate(grouping, [*where.where(), started_within(hours, HOUR)])).mappings()


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


# A slice of the packed big-endian float8s; with EXTERNAL storage only the chunks it covers are read.
_SLICES = sa.text("""
SELECT s.id, s.first, s.last, substring(r.durations FROM (s.first - 1) * 8 + 1 FOR (s.last - s.first + 1) * 8)
FROM unnest(CAST(:ids AS bigint[]), CAST(:firsts AS int[]), CAST(:lasts AS int[])) AS s(id, first, last)
JOIN otel_call_rollups r ON r.id = s.id
""")

Slices = dict[tuple[int, int, int], "array[float]"]


def _read_slices(conn: sa.Connection, wanted: set[tuple[int, int, int]]) -> Slices:
    if not wanted:
        return {}
    ids, firsts, lasts = (list(column) for column in zip(*sorted(wanted), strict=True))
    read: Slices = {}
    for row_id, first, last, packed in conn.execute(_SLICES, {"ids": ids, "firsts": firsts, "lasts": lasts}):
        read[(row_id, first, last)] = unpack(packed)
    if len(read) != len(wanted):
        raise RebuiltMeanwhile()
    return read


def unpack(packed: bytes) -> array[float]:
    values = array("d", bytes(packed))
    if sys.byteorder == "little":  # stored big-endian (PostgreSQL's float8send)
        values.byteswap()
    return values
