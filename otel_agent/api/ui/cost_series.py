"""Cost per UTC day and group (project, stage or model) for the cost page's chart.

The only SQL the UI adds: the store's report (otel_agent.store.report, behind GET /api/v1/report) has no
time axis. By project or stage it is one GROUP BY over the window's runs (a run's own cost: nested runs
are rows of their own, so each call is counted once). By model, per LLM call: on PostgreSQL each day
and hour whose LLM-call roll-up is current (its fingerprint matches) is read from its stored rows, and
only the rest (the last hour or so, anything written since) from the calls themselves, exactly as the
report by model chooses (otel_agent.store.call_report); SQLite reads the calls.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from otel_agent.api.queries.report import WorkspaceRunFilter
from otel_agent.store import call_report, call_rollup
from otel_agent.store.engine import is_postgres
from otel_agent.store.models import call_rollups, runs, steps

RUN_GROUPS = {"project": runs.c.project, "stage": runs.c.stage}
GROUPINGS = (*RUN_GROUPS, "model")


@dataclass(frozen=True, slots=True)
class DailyCost:
    day: datetime  # 00:00 UTC
    group: str | None
    cost_usd: float


def first_day(now: datetime, days: int) -> datetime:
    """00:00 UTC of the window's first day: whole days, today included."""
    return call_rollup.day_of(now) - timedelta(days=days - 1)


def daily_cost(conn: sa.Connection, workspace: str, by: str, since: datetime) -> list[DailyCost]:
    if by not in GROUPINGS:
        raise ValueError(f"cost over time is by {', '.join(GROUPINGS)}, not {by!r}")
    where = WorkspaceRunFilter(workspace=workspace, since=since)
    rows: Any
    if by != "model":
        rows = conn.execute(_by_run(conn, where, RUN_GROUPS[by]))
    elif is_postgres(conn):
        rows = _by_model_rolled_up(conn, where)
    else:
        rows = conn.execute(_by_call(conn, where.where()))
    return _summed(rows)


def _day(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if is_postgres(conn):
        return sa.func.date_trunc("day", column, "UTC")
    return sa.func.date(column)  # SQLite stores UTC text: 'YYYY-MM-DD'


def _by_run(conn: sa.Connection, where: WorkspaceRunFilter, group: sa.ColumnElement[Any]) -> sa.Select[Any]:
    day = _day(conn, runs.c.started_at)
    query = sa.select(day, group, sa.func.coalesce(sa.func.sum(runs.c.cost_usd), 0.0))
    return query.where(*where.where()).group_by(day, group)


def _by_call(conn: sa.Connection, conditions: list[Any]) -> sa.Select[Any]:
    day, model = _day(conn, runs.c.started_at), call_rollup.grouping_value("model")
    query = sa.select(day, model, sa.func.coalesce(sa.func.sum(steps.c.cost_usd), 0.0))
    query = query.select_from(steps.join(runs, runs.c.run_id == steps.c.run_id))
    return query.where(steps.c.kind == "llm", *conditions).group_by(day, model)


def _by_model_rolled_up(conn: sa.Connection, where: WorkspaceRunFilter) -> list[Any]:
    """Stored day and hour rows where the roll-up is current, the calls themselves elsewhere: the same
    choice, hour by hour, as the report by model makes (otel_agent.store.call_report)."""
    sources = call_report._sources(conn, where)
    rows: list[Any] = []
    if sources.days or sources.hours:
        c = call_rollups.c
        periods = sa.or_(
            sa.and_(c.period == "day", c.starts_at.in_(sources.days)),
            sa.and_(c.period == "hour", c.starts_at.in_(sources.hours)),
        )
        stored = sa.select(c.starts_at, c.value, c.cost_usd).where(c.grouping == "model", periods)
        rows += conn.execute(stored.where(where.workspace_condition(c.workspace)))
    if sources.raw_hours:
        within = call_rollup.started_within(sources.raw_hours, call_rollup.HOUR)
        rows += conn.execute(_by_call(conn, [*where.where(), within]))
    return rows


def _summed(rows: Any) -> list[DailyCost]:
    # Several workspace values (NULL and "default") or sources give one (day, group) more than one row.
    totals: dict[tuple[datetime, str | None], float] = defaultdict(float)
    for day, group, cost in rows:
        totals[(_as_day(day), group)] += float(cost or 0.0)
    return [DailyCost(day, group, cost) for (day, group), cost in sorted(totals.items(), key=_order)]


def _order(item: tuple[tuple[datetime, str | None], float]) -> tuple[datetime, str]:
    (day, group), _ = item
    return day, group or ""


def _as_day(value: Any) -> datetime:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):  # a day's or an hour's start
        return call_rollup.day_of(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
