"""Read queries over the store's tables, every one scoped to a workspace.

Steps and failures carry no workspace of their own: they belong to the workspace of their run, so they
are reached through a join on ``otel_runs``. A row whose run is unknown belongs to no workspace and is
never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.store.models import failures, runs, steps

MAX_STEPS_PER_RUN = 2000  # one response stays bounded even for a runaway agent loop


@dataclass(frozen=True, slots=True)
class RunFilter:
    """The filters of the run list; None means "any"."""

    project: str | None = None
    stage: str | None = None
    role: str | None = None
    status: str | None = None
    user: str | None = None
    workflow: str | None = None
    trigger_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        equal: Mapping[sa.Column, str | None] = {
            runs.c.project: self.project,
            runs.c.stage: self.stage,
            runs.c.agent_role: self.role,
            runs.c.status: self.status,
            runs.c.user_id: self.user,
            runs.c.workflow_name: self.workflow,
            runs.c.trigger_type: self.trigger_type,
        }
        found = [column == value for column, value in equal.items() if value is not None]
        if self.since is not None:
            found.append(runs.c.started_at >= self.since)
        if self.until is not None:
            found.append(runs.c.started_at < self.until)
        return found


def list_runs(
    conn: sa.Connection,
    workspace: str,
    where: RunFilter,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[sa.Row]:
    """Runs newest first (keyset on started_at, run_id); runs whose start is not yet known are left out."""
    query = sa.select(runs).where(run_in(workspace), runs.c.started_at.is_not(None))
    query = query.where(*where.conditions())
    if before is not None:
        key = sa.tuple_(sa.literal(before[0], runs.c.started_at.type), sa.literal(before[1]))
        query = query.where(sa.tuple_(runs.c.started_at, runs.c.run_id) < key)
    query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
    return list(conn.execute(query))


def get_run(conn: sa.Connection, workspace: str, run_id: str) -> sa.Row | None:
    query = sa.select(runs).where(runs.c.run_id == run_id, run_in(workspace))
    return conn.execute(query).first()


def run_steps(conn: sa.Connection, run_id: str) -> list[sa.Row]:
    query = (
        sa.select(steps)
        .where(steps.c.run_id == run_id)
        .order_by(steps.c.started_at, steps.c.span_id)
        .limit(MAX_STEPS_PER_RUN)
    )
    return list(conn.execute(query))


def run_failures(conn: sa.Connection, run_id: str) -> list[sa.Row]:
    query = sa.select(failures).where(failures.c.run_id == run_id).order_by(failures.c.occurred_at)
    return list(conn.execute(query))


def child_run_ids(conn: sa.Connection, run_id: str) -> list[str]:
    query = sa.select(runs.c.run_id).where(runs.c.parent_run_id == run_id).order_by(runs.c.started_at)
    return list(conn.scalars(query))
