"""The LLM-call roll-up (PostgreSQL): per workspace and UTC day of the runs' start, per model and per
provider, the calls, runs, tokens and cost, and every call's duration in order (for exact percentiles).

Why: the report by model or provider reads every LLM call of its window (170,000 for a month of a busy
workspace) and sorts their durations; the roll-up turns that into ~30 rows a group. See
otel_agent.store.call_report for how it is read, and docs/schema.md.

How it stays right with spans arriving in any order, late, twice:
- a day is rebuilt whole (never added to), from the runs and steps tables, in one transaction;
- each (workspace, day) stores a fingerprint of the runs it was built from: how many there were and their
  latest ``updated_at``. Every write to a run or to its steps bumps ``updated_at`` (the materialiser's
  totals recomputation does it for steps), and a deletion changes the count, so a report uses a stored day
  only while the fingerprint still matches, and reads the raw rows for the others;
- only *settled* days are built: over (UTC), and no run of the day updated for ``settle`` (10 minutes). A
  writer still in flight when the day was built started less than ``settle`` before, so its
  ``updated_at`` is later than the stored one and the day reads as changed once it commits.

The materialiser's periodic sweep (SQL exporter, sink) rebuilds a few changed days each time;
``otel-agent db rollup`` rebuilds every changed day of a longer window (a backfill).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from otel_agent.store.models import (
    RUN_STATUS_RUNNING,
    RUN_STATUS_SUCCEEDED,
    call_rollup_days,
    call_rollups,
    runs,
    steps,
)

MARK_EVERY = 64  # a mark every 64 durations: ~1.6% of a day's durations are read back as marks
SETTLE = timedelta(minutes=10)
LOOKBACK_DAYS = 35  # the sweep looks this far back; older days: `otel-agent db rollup --days N`
SWEEP_MAX_DAYS = 4  # days rebuilt per sweep, so a sweep stays short
GROUPINGS = ("model", "provider")
_LOCK_KEY = 0x07E1A6E8  # with the day's ordinal: one builder of a day at a time

DAY = sa.cast(sa.func.timezone("UTC", runs.c.started_at), sa.Date)
_EMPTY: sa.ColumnClause[Any] = sa.literal_column("'{}'::float8[]")


def grouping_value(grouping: str) -> sa.ColumnElement[Any]:
    """What a call is grouped by: its model (the response's, else the request's) or its provider."""
    if grouping == "model":
        return sa.func.coalesce(steps.c.response_model, steps.c.request_model)
    return steps.c.provider


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def day_range(day: date) -> sa.ColumnElement[bool]:
    start = day_start(day)
    return sa.and_(runs.c.started_at >= start, runs.c.started_at < start + timedelta(days=1))


def call_aggregate(grouping: str, conditions: Sequence[Any], keys: Sequence[Any] = ()) -> sa.Select[Any]:
    """Per ``keys`` + group value, over the LLM calls of the runs ``conditions`` select: calls, distinct
    runs (ended, succeeded), tokens, cost, and the non-NULL durations (ms) in ascending order."""
    s, r = steps.c, runs.c
    value = grouping_value(grouping).label("value")
    run_id = sa.distinct(r.run_id)
    ordered = sa.func.array_agg(postgresql.aggregate_order_by(s.duration_ms, s.duration_ms))
    return (
        sa.select(
            *keys,
            value,
            sa.func.count().label("calls"),
            sa.func.count(run_id).label("runs"),
            sa.func.count(run_id).filter(r.status != RUN_STATUS_RUNNING).label("ended"),
            sa.func.count(run_id).filter(r.status == RUN_STATUS_SUCCEEDED).label("succeeded"),
            sa.func.coalesce(sa.func.sum(s.input_tokens), 0).label("input_tokens"),
            sa.func.coalesce(sa.func.sum(s.output_tokens), 0).label("output_tokens"),
            sa.func.coalesce(sa.func.sum(s.cost_usd), 0.0).label("cost_usd"),
            sa.func.coalesce(ordered.filter(s.duration_ms.is_not(None)), _EMPTY).label("durations"),
        )
        .select_from(steps.join(runs, r.run_id == s.run_id))
        .where(s.kind == "llm", *conditions)
        .group_by(*keys, value)
    )


def refresh(
    engine: sa.Engine,
    *,
    lookback_days: int = LOOKBACK_DAYS,
    max_days: int | None = None,
    settle: timedelta = SETTLE,
) -> list[date]:
    """Rebuild the changed, settled days of the last ``lookback_days`` (at most ``max_days``, oldest
    first); returns them. Nothing to do on SQLite (its report reads the rows)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        now = conn.execute(sa.select(sa.func.now())).scalar_one()
        days = changed_days(conn, now - timedelta(days=lookback_days), now, settle)
    built = []
    for day in days[:max_days]:
        with engine.begin() as conn:
            if _build_day(conn, day):
                built.append(day)
    return built


def changed_days(conn: sa.Connection, since: datetime, now: datetime, settle: timedelta) -> list[date]:
    """Settled days from ``since``'s on whose runs no longer match what their roll-up was built from."""
    first = since.astimezone(timezone.utc).date()
    actual = fingerprints(conn, [runs.c.started_at >= day_start(first)])
    stored = stored_fingerprints(conn, [call_rollup_days.c.day >= first])
    today = now.astimezone(timezone.utc).date()
    changed = []
    for day in sorted(set(actual) | set(stored)):
        latest = max((last for _, last in actual.get(day, {}).values()), default=None)
        settled = day < today and (latest is None or latest < now - settle)
        if settled and actual.get(day) != stored.get(day):
            changed.append(day)
    return changed


Fingerprints = dict[date, dict[str | None, tuple[int, datetime]]]


def fingerprints(conn: sa.Connection, conditions: Iterable[Any]) -> Fingerprints:
    """day -> workspace -> (runs, latest updated_at), over the runs ``conditions`` select."""
    query = (
        sa.select(DAY, runs.c.workspace, sa.func.count(), sa.func.max(runs.c.updated_at))
        .where(runs.c.started_at.is_not(None), *conditions)
        .group_by(DAY, runs.c.workspace)
    )
    return _by_day(conn.execute(query))


def stored_fingerprints(conn: sa.Connection, conditions: Iterable[Any]) -> Fingerprints:
    d = call_rollup_days.c
    return _by_day(conn.execute(sa.select(d.day, d.workspace, d.runs, d.last_update).where(*conditions)))


def _by_day(rows: Iterable[Any]) -> Fingerprints:
    result: Fingerprints = {}
    for day, workspace, count, last in rows:
        result.setdefault(day, {})[workspace] = (count, last)
    return result


def _build_day(conn: sa.Connection, day: date) -> bool:
    """Replace one day's roll-up; False when another process is building it right now."""
    if not conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_LOCK_KEY, day.toordinal()))).scalar():
        return False
    conn.execute(call_rollup_days.delete().where(call_rollup_days.c.day == day))
    conn.execute(call_rollups.delete().where(call_rollups.c.day == day))
    in_day = day_range(day)
    days = sa.select(DAY, runs.c.workspace, sa.func.count(), sa.func.max(runs.c.updated_at), sa.func.now())
    days = days.where(in_day).group_by(DAY, runs.c.workspace)
    conn.execute(
        call_rollup_days.insert().from_select(["day", "workspace", "runs", "last_update", "built_at"], days)
    )
    for grouping in GROUPINGS:
        conn.execute(_insert_rollups(grouping, in_day))
    return True


def _insert_rollups(grouping: str, in_day: sa.ColumnElement[bool]) -> sa.Insert:
    totals = call_aggregate(grouping, [in_day], [DAY.label("day"), runs.c.workspace]).subquery("a")
    marks: sa.ColumnClause[Any] = sa.literal_column(
        "coalesce((SELECT array_agg(u.d ORDER BY u.i) FROM unnest(a.durations) WITH ORDINALITY AS u(d, i) "
        f"WHERE u.i % {int(MARK_EVERY)} = 0), '{{}}'::float8[])"
    )
    copied = ("calls", "runs", "ended", "succeeded", "input_tokens", "output_tokens", "cost_usd", "durations")
    rows = sa.select(
        totals.c.workspace,
        totals.c.day,
        sa.literal(grouping),
        totals.c.value,
        *(totals.c[n] for n in copied),
        marks,
        sa.literal(MARK_EVERY),
    )
    columns = ["workspace", "day", "grouping", "value", *copied, "marks", "mark_every"]
    return call_rollups.insert().from_select(columns, rows)
