"""The LLM-call roll-up (PostgreSQL): per workspace and period (UTC hour, and UTC day once the day is
over) of the runs' start, per model and per provider, the calls, runs, tokens and cost, and every call's
duration in order (for exact percentiles).

Why: the report by model or provider reads every LLM call of its window (170,000 for a month of a busy
workspace) and sorts their durations; with the roll-up it reads ~30 day rows and ~50 hour rows a group
and only the calls of the last hour or so. See otel_agent.store.call_report for the reading side, and
docs/schema.md.

How it stays right with spans arriving in any order, late, twice:
- a period is rebuilt whole (never added to), from the runs and steps tables, in one transaction;
- each (workspace, period) stores a fingerprint of the runs it was built from: how many there were and
  their latest ``updated_at``. Every write to a run or to its steps bumps ``updated_at`` (the
  materialiser's totals recomputation does it for steps), and a deletion changes the count, so a report
  uses a stored period only while its fingerprint still matches, and reads the raw rows for the others;
- only *settled* periods are built: over for ``settle`` (10 minutes), and no run of theirs updated for
  as long. A writer still in flight when a period was built started less than ``settle`` before, so its
  ``updated_at`` is later than the stored one and the period reads as changed once it commits.
- A day that is over is built whole, its hours with it; the hours of a day still going are built one by
  one as they settle.

The materialiser's periodic sweep (SQL exporter, sink) rebuilds a few changed days and hours each time;
``otel-agent db rollup`` rebuilds every changed one of a longer window (a backfill).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.dialects import postgresql

from otel_agent.guard import record_failure
from otel_agent.store.models import (
    RUN_STATUS_RUNNING,
    RUN_STATUS_SUCCEEDED,
    call_rollup_periods,
    call_rollups,
    runs,
    steps,
)

MARK_EVERY = 64  # a mark every 64 durations: ~1.6% of the durations are read back as marks
SETTLE = timedelta(minutes=10)
LOOKBACK_DAYS = 35  # the sweep looks this far back; older days: `otel-agent db rollup --days N`
SWEEP_MAX_PERIODS = 6  # days or hours rebuilt per sweep, so a sweep stays short
GROUPINGS = ("model", "provider")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
_LOCK_KEY = 0x07E1A6E8  # with the day's ordinal: one builder of a day (or of its hours) at a time

STARTS = {
    "hour": sa.func.date_trunc("hour", runs.c.started_at, "UTC"),
    "day": sa.func.date_trunc("day", runs.c.started_at, "UTC"),
}
_EMPTY: sa.ColumnClause[Any] = sa.literal_column("'{}'::float8[]")

# workspace -> (runs, latest updated_at); per period start
Prints = dict[str | None, tuple[int, datetime]]
Fingerprints = dict[datetime, Prints]


@dataclass
class Refreshed:
    days: list[datetime] = field(default_factory=list)
    hours: list[datetime] = field(default_factory=list)


def grouping_value(grouping: str) -> sa.ColumnElement[Any]:
    """What a call is grouped by: its model (the response's, else the request's) or its provider."""
    if grouping == "model":
        return sa.func.coalesce(steps.c.response_model, steps.c.request_model)
    return steps.c.provider


def day_of(moment: datetime) -> datetime:
    utc = moment.astimezone(timezone.utc)
    return datetime(utc.year, utc.month, utc.day, tzinfo=timezone.utc)


def started_within(starts: Iterable[datetime], length: timedelta) -> sa.ColumnElement[bool]:
    """Runs started in any of the periods (adjacent ones merged into one range)."""
    spans: list[list[datetime]] = []
    for start in sorted(starts):
        if spans and spans[-1][1] == start:
            spans[-1][1] = start + length
        else:
            spans.append([start, start + length])
    started = runs.c.started_at
    return sa.or_(sa.false(), *(sa.and_(started >= lo, started < hi) for lo, hi in spans))


def first_attempt(retry_attempt: Any) -> sa.ColumnElement[bool]:
    """An LLM step that is a call, not an SDK's retry of one (docs/counting.md): calls are counted
    once, as a run's ``llm_calls`` counts them; every attempt's tokens, cost and latency count."""
    return sa.func.coalesce(retry_attempt, 0) <= 0


def call_aggregate(grouping: str, conditions: Sequence[Any], keys: Sequence[Any] = ()) -> sa.Select[Any]:
    """Per ``keys`` + group value, over the LLM calls of the runs ``conditions`` select: calls (retries
    not counted again), distinct runs (ended, succeeded), tokens, cost, and the non-NULL durations (ms) of
    every attempt in ascending order."""
    s, r = steps.c, runs.c
    value = grouping_value(grouping).label("value")
    run_id = sa.distinct(r.run_id)
    ordered = sa.func.array_agg(postgresql.aggregate_order_by(s.duration_ms, s.duration_ms))
    return (
        sa.select(
            *keys,
            value,
            sa.func.count().filter(first_attempt(s.retry_attempt)).label("calls"),
            sa.func.count(run_id).label("runs"),
            sa.func.count(run_id).filter(r.status != RUN_STATUS_RUNNING).label("ended"),
            sa.func.count(run_id).filter(r.status == RUN_STATUS_SUCCEEDED).label("succeeded"),
            sa.func.coalesce(sa.func.sum(s.input_tokens), 0).label("input_tokens"),
            sa.func.coalesce(sa.func.sum(s.output_tokens), 0).label("output_tokens"),
            sa.func.coalesce(sa.func.sum(s.cost_usd), 0.0).label("cost_usd"),
            sa.func.coalesce(ordered.filter(s.duration_ms.is_not(None)), _EMPTY).label("durations"),
        )
        .select_from(steps.join(runs, r.run_id == s.run_id))
        .where(s.kind == "llm", s.duplicate_of.is_(None), *conditions)
        .group_by(*keys, value)
    )


# --- fingerprints ---------------------------------------------------------------------------------------


def fingerprints(conn: sa.Connection, conditions: Iterable[Any]) -> Fingerprints:
    """Hour start -> workspace -> (runs, latest updated_at), over the runs ``conditions`` select."""
    return _by_start(conn.execute(_prints("hour", conditions)))


def _prints(level: str, conditions: Iterable[Any]) -> sa.Select[Any]:
    """Per period start and workspace: how many runs, and their latest ``updated_at``."""
    starts = STARTS[level]
    return (
        sa.select(
            starts.label("starts_at"),
            runs.c.workspace,
            sa.func.count().label("runs"),
            sa.func.max(runs.c.updated_at).label("last_update"),
        )
        .where(runs.c.started_at.is_not(None), *conditions)
        .group_by(starts, runs.c.workspace)
    )


def stored_fingerprints(conn: sa.Connection, period: str, conditions: Iterable[Any]) -> Fingerprints:
    p = call_rollup_periods.c
    query = sa.select(p.starts_at, p.workspace, p.runs, p.last_update).where(p.period == period, *conditions)
    return _by_start(conn.execute(query))


def per_day(hourly: Fingerprints) -> Fingerprints:
    """The days' fingerprints from their hours' (counts add up, the latest update is the latest)."""
    days: Fingerprints = {}
    for hour, prints in hourly.items():
        day = days.setdefault(day_of(hour), {})
        for workspace, (count, last) in prints.items():
            before = day.get(workspace)
            day[workspace] = (count, last) if before is None else (before[0] + count, max(before[1], last))
    return days


def latest(prints: Prints | None) -> datetime | None:
    return max((last for _, last in (prints or {}).values()), default=None)


def _by_start(rows: Iterable[Any]) -> Fingerprints:
    result: Fingerprints = {}
    for start, workspace, count, last in rows:
        result.setdefault(start, {})[workspace] = (count, last)
    return result


# --- rebuilding -----------------------------------------------------------------------------------------


def refresh(
    engine: sa.Engine,
    *,
    lookback_days: int = LOOKBACK_DAYS,
    max_periods: int | None = None,
    settle: timedelta = SETTLE,
    now: datetime | None = None,
) -> Refreshed:
    """Rebuild the changed, settled days and hours of the last ``lookback_days`` (at most
    ``max_periods`` of them, oldest first). Nothing to do on SQLite (its report reads the rows).
    ``now`` is the database's clock unless given (tests fix it, so what is "over" is the same at any hour)."""
    done = Refreshed()
    if engine.dialect.name != "postgresql":
        return done
    with engine.connect() as conn:
        if now is None:
            now = conn.execute(sa.select(sa.func.now())).scalar_one()
        todo = changed_periods(conn, now - timedelta(days=lookback_days), now - settle)
    for period, start in todo[:max_periods]:
        with engine.begin() as conn:
            if _build(conn, period, start):
                (done.days if period == "day" else done.hours).append(start)
    return done


def changed_periods(conn: sa.Connection, since: datetime, cutoff: datetime) -> list[tuple[str, datetime]]:
    """Days over and settled before ``cutoff`` whose runs changed since they were built (or never
    were); for the other days, their hours over and settled, likewise."""
    first = day_of(since)
    hourly = fingerprints(conn, [runs.c.started_at >= first])
    daily = per_day(hourly)
    stored_days = stored_fingerprints(conn, "day", [call_rollup_periods.c.starts_at >= first])
    stored_hours = stored_fingerprints(conn, "hour", [call_rollup_periods.c.starts_at >= first])
    todo: list[tuple[str, datetime]] = []
    for day in sorted(set(daily) | set(stored_days)):
        if _settled(day, DAY, daily.get(day), cutoff):
            if daily.get(day) != stored_days.get(day):
                todo.append(("day", day))
            continue
        hours = {h for h in set(hourly) | set(stored_hours) if day_of(h) == day}
        for hour in sorted(hours):
            if _settled(hour, HOUR, hourly.get(hour), cutoff) and hourly.get(hour) != stored_hours.get(hour):
                todo.append(("hour", hour))
    return todo


def _settled(start: datetime, length: timedelta, prints: Prints | None, cutoff: datetime) -> bool:
    last = latest(prints)
    return start + length <= cutoff and (last is None or last < cutoff)


def _build(conn: sa.Connection, period: str, start: datetime) -> bool:
    """Replace a day (with its hours) or an hour; False when another process is building that day."""
    lock = sa.func.pg_try_advisory_xact_lock(_LOCK_KEY, day_of(start).toordinal())
    if not conn.execute(sa.select(lock)).scalar():
        return False
    length = DAY if period == "day" else HOUR
    in_period = started_within([start], length)
    p, c = call_rollup_periods.c, call_rollups.c
    for table, starts_at, kind in (
        (call_rollup_periods, p.starts_at, p.period),
        (call_rollups, c.starts_at, c.period),
    ):
        conn.execute(
            table.delete().where(starts_at >= start, starts_at < start + length, kind.in_(_levels(period)))
        )
    for level in _levels(period):
        conn.execute(_insert_prints(level, in_period))
        for grouping in GROUPINGS:
            conn.execute(_insert_rollups(level, grouping, in_period))
    return True


def _levels(period: str) -> tuple[str, ...]:
    return ("day", "hour") if period == "day" else ("hour",)


def _insert_prints(level: str, in_period: sa.ColumnElement[bool]) -> sa.Insert:
    found = _prints(level, [in_period]).subquery("f")
    rows = sa.select(sa.literal(level), *found.c, sa.func.now())
    columns = ["period", "starts_at", "workspace", "runs", "last_update", "built_at"]
    return call_rollup_periods.insert().from_select(columns, rows)


_PACKED: sa.ColumnClause[Any] = sa.literal_column(
    "coalesce((SELECT string_agg(float8send(u.d), ''::bytea ORDER BY u.i) "
    "FROM unnest(a.durations) WITH ORDINALITY AS u(d, i)), ''::bytea)"
)


def _insert_rollups(level: str, grouping: str, in_period: sa.ColumnElement[bool]) -> sa.Insert:
    keys = [STARTS[level].label("starts_at"), runs.c.workspace]
    totals = call_aggregate(grouping, [in_period], keys).subquery("a")
    marks: sa.ColumnClause[Any] = sa.literal_column(
        "coalesce((SELECT array_agg(u.d ORDER BY u.i) FROM unnest(a.durations) WITH ORDINALITY AS u(d, i) "
        f"WHERE u.i % {int(MARK_EVERY)} = 0), '{{}}'::float8[])"
    )
    copied = ("calls", "runs", "ended", "succeeded", "input_tokens", "output_tokens", "cost_usd")
    rows = sa.select(
        totals.c.workspace,
        sa.literal(level),
        totals.c.starts_at,
        sa.literal(grouping),
        totals.c.value,
        *(totals.c[n] for n in copied),
        _PACKED,
        marks,
        sa.literal(MARK_EVERY),
    )
    columns = [
        "workspace",
        "period",
        "starts_at",
        "grouping",
        "value",
        *copied,
        "durations",
        "marks",
        "mark_every",
    ]
    return call_rollups.insert().from_select(columns, rows)


class BackgroundRefresh:
    """One ``refresh`` pass at a time on a daemon thread, for writers that must not wait for it (the SQL
    exporter runs on the BatchSpanProcessor's export thread). On SQLite it never starts a thread."""

    def __init__(self, engine: sa.Engine, max_periods: int = SWEEP_MAX_PERIODS) -> None:
        self._engine = engine
        self._max_periods = max_periods
        self._busy = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start a pass unless one is running (or there is nothing to build); True if one started."""
        if self._engine.dialect.name != "postgresql" or not self._busy.acquire(blocking=False):
            return False
        self.thread = threading.Thread(target=self._run, name="otel-agent-rollup", daemon=True)
        self.thread.start()
        return True

    def _run(self) -> None:
        try:
            with suppress_instrumentation():  # our own SQL is never traced
                refresh(self._engine, max_periods=self._max_periods)
        except Exception as exc:  # the database may be down: the next sweep starts another pass
            record_failure("store.rollup", exc)
        finally:
            self._busy.release()
