"""One user's activity in a workspace: what they ran, what it cost, how it went."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.store.models import RUN_STATUS_SUCCEEDED, runs
from otel_agent.store.types import Count


def user_totals(conn: sa.Connection, workspace: str, user_id: str, since: datetime) -> sa.Row:
    r = runs.c
    query = sa.select(
        sa.func.count().label("runs"),
        sa.func.sum(sa.case((r.status == RUN_STATUS_SUCCEEDED, 1), else_=0)).label("succeeded"),
        sa.func.sum(sa.case((r.status.in_(("failed", "stalled")), 1), else_=0)).label("failed"),
        sa.cast(sa.func.coalesce(sa.func.sum(r.input_tokens), 0), Count).label("input_tokens"),
        sa.cast(sa.func.coalesce(sa.func.sum(r.output_tokens), 0), Count).label("output_tokens"),
        sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0).label("cost_usd"),
        sa.func.coalesce(sa.func.sum(r.unpriced_calls), 0).label("unpriced_calls"),
        sa.func.min(r.started_at).label("first_seen"),
        sa.func.max(r.started_at).label("last_seen"),
    ).where(*_scope(workspace, user_id, since))
    return conn.execute(query).one()


def user_projects(conn: sa.Connection, workspace: str, user_id: str, since: datetime) -> list[sa.Row]:
    """Per project: runs, failures and cost."""
    r = runs.c
    query = (
        sa.select(
            r.project,
            sa.func.count().label("runs"),
            sa.func.sum(sa.case((r.status.in_(("failed", "stalled")), 1), else_=0)).label("failed"),
            sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0).label("cost_usd"),
            sa.func.coalesce(sa.func.sum(r.unpriced_calls), 0).label("unpriced_calls"),
        )
        .where(*_scope(workspace, user_id, since))
        .group_by(r.project)
        .order_by(sa.desc("runs"))
    )
    return list(conn.execute(query))


def user_recent_runs(conn: sa.Connection, workspace: str, user_id: str, limit: int) -> list[sa.Row]:
    query = (
        sa.select(runs)
        .where(run_in(workspace), runs.c.user_id == user_id, runs.c.started_at.is_not(None))
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))


def _scope(workspace: str, user_id: str, since: datetime) -> list[sa.ColumnElement[bool]]:
    # Nested runs included: a run's totals cover its own steps only, so summing every run counts each once.
    return [run_in(workspace), runs.c.user_id == user_id, runs.c.started_at >= since]
