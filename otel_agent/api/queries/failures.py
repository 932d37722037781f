"""Failures of one workspace: list, group by error, resolve (one, or a whole group)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.api.tables import utcnow
from otel_agent.store.models import failures, runs


@dataclass(frozen=True, slots=True)
class FailureFilter:
    """The filters of the failure list and groups; None means "any"."""

    state: str = "open"  # open | resolved | all
    category: str | None = None
    project: str | None = None
    stage: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self, workspace: str) -> list[sa.ColumnElement[bool]]:
        found = [_workspace_condition(workspace)]
        if self.state != "all":
            found.append(failures.c.resolved.is_(self.state == "resolved"))
        for column, value in (
            (failures.c.error_category, self.category),
            (failures.c.project, self.project),
            (failures.c.stage, self.stage),
        ):
            if value is not None:
                found.append(column == value)
        if self.since is not None:
            found.append(failures.c.occurred_at >= self.since)
        if self.until is not None:
            found.append(failures.c.occurred_at < self.until)
        return found


def _workspace_condition(workspace: str) -> sa.ColumnElement[bool]:
    # EXISTS on the run's primary key: cheap per row, and a failure whose run is unknown stays hidden.
    return sa.exists().where(runs.c.run_id == failures.c.run_id, run_in(workspace))


def list_failures(
    conn: sa.Connection, workspace: str, where: FailureFilter, limit: int, before: tuple[datetime, str] | None
) -> list[sa.Row]:
    query = sa.select(failures).where(*where.conditions(workspace), failures.c.occurred_at.is_not(None))
    if before is not None:
        key = sa.tuple_(sa.literal(before[0], failures.c.occurred_at.type), sa.literal(before[1]))
        query = query.where(sa.tuple_(failures.c.occurred_at, failures.c.failure_id) < key)
    order = (failures.c.occurred_at.desc(), failures.c.failure_id.desc())
    return list(conn.execute(query.order_by(*order).limit(limit)))


def get_failure(conn: sa.Connection, workspace: str, failure_id: str) -> sa.Row | None:
    query = sa.select(failures).where(failures.c.failure_id == failure_id, _workspace_condition(workspace))
    return conn.execute(query).first()


def failure_groups(conn: sa.Connection, workspace: str, where: FailureFilter, limit: int) -> list[sa.Row]:
    """Failures grouped by (category, error type, message), biggest group first."""
    f = failures.c
    keys = (f.error_category, f.error_type, f.message)
    query = (
        sa.select(
            *keys,
            sa.func.count().label("count"),
            sa.func.sum(sa.case((f.resolved.is_(False), 1), else_=0)).label("open_count"),
            sa.func.min(f.occurred_at).label("first_seen"),
            sa.func.max(f.occurred_at).label("last_seen"),
            sa.func.count(sa.distinct(f.run_id)).label("runs"),
            sa.func.max(f.failure_id).label("sample_failure_id"),
        )
        .where(*where.conditions(workspace))
        .group_by(*keys)
        .order_by(sa.desc("count"), sa.desc("last_seen"))
        .limit(limit)
    )
    return list(conn.execute(query))


def resolve(conn: sa.Connection, workspace: str, *conditions: sa.ColumnElement[bool]) -> list[str]:
    """Mark the matching open failures resolved; returns the ids that changed."""
    update = (
        sa.update(failures)
        .where(failures.c.resolved.is_(False), _workspace_condition(workspace), *conditions)
        .values(resolved=True, resolved_at=utcnow())
        .returning(failures.c.failure_id)
    )
    return list(conn.scalars(update))


def group_conditions(
    category: str, error_type: str | None, message: str | None
) -> list[sa.ColumnElement[bool]]:
    """Match one group exactly, NULLs included (a NULL message is its own group)."""
    return [
        failures.c.error_category == category,
        failures.c.error_type.is_(None) if error_type is None else failures.c.error_type == error_type,
        failures.c.message.is_(None) if message is None else failures.c.message == message,
    ]
