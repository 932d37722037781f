"""Cost per UTC day and group (project, stage or model) for the cost page's chart.

The only SQL the UI adds: the store's report (otel_agent.store.report, behind GET /api/v1/report) has no
time axis. By project or stage it is one GROUP BY over the window's runs (a run's own cost: nested runs
are rows of their own, so each call is counted once). By model, per LLM call: on PostgreSQL each day
whose LLM-call roll-up is current (its fingerprint matches, as otel_agent.store.call_report checks) is
read from its day rows, and only the others (today, a day written since) from the calls themselves;
SQLite reads the calls.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from otel_agent.api.queries.report import WorkspaceRunFilter
from otel_agent.store import call_rollup
from otel_agent.store.engine import is_postgres
from otel_agent.store.models import call_rollup_periods, call_rollups, runs, steps

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
    daily = call_rollup.per_day(call_rollup.fingerprints(conn, where.where()))
    current = _current_days(conn, where, daily)
    c = call_rollups.c
    stored = (
        sa.select(c.starts_at, c.value, c.cost_usd)
        .where(c.grouping == "model", c.period == "day", c.starts_at.in_(current))
        .where(where.workspace_condition(c.workspace))
    )
    rows = list(conn.execute(stored)) if current else []
    others = [day for day in daily if day not in current]
    if others:
        within = call_rollup.started_within(others, call_rollup.DAY)
        rows += list(conn.execute(_by_call(conn, [*where.where(), within])))
    return rows


def _current_days(
    conn: sa.Connection, where: WorkspaceRunFilter, daily: call_rollup.Fingerprints
) -> list[datetime]:
    """The window's days whose roll-up rows were built from the runs as they are now."""
    assert where.since is not None
    p = call_rollup_periods.c
    in_window = [p.starts_at >= where.since, where.workspace_condition(p.workspace)]
    stored = call_rollup.stored_fingerprints(conn, "day", in_window)
    return [day for day, prints in daily.items() if day >= where.since and stored.get(day) == prints]


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
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
