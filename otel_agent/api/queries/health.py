"""The health card's counts: failed runs, open failures, running runs (also served as metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from otel_agent.api.queries.failures import FailureFilter
from otel_agent.api.scope import run_in
from otel_agent.store.models import RUN_STATUS_FAILED, RUN_STATUS_RUNNING, RUN_STATUS_STALLED, failures, runs

FAILED_STATUSES = (RUN_STATUS_FAILED, RUN_STATUS_STALLED)


@dataclass(frozen=True, slots=True)
class HealthCounts:
    failed_runs_today: int
    failed_runs_24h: int
    open_failures: int
    running_runs: int


def health_counts(conn: sa.Connection, workspace: str, now: datetime) -> HealthCounts:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return HealthCounts(
        failed_runs_today=_failed_runs(conn, workspace, midnight),
        failed_runs_24h=_failed_runs(conn, workspace, now - timedelta(hours=24)),
        open_failures=_open_failures(conn, workspace),
        running_runs=_count(conn, run_in(workspace), runs.c.status == RUN_STATUS_RUNNING),
    )


def _failed_runs(conn: sa.Connection, workspace: str, since: datetime) -> int:
    return _count(conn, run_in(workspace), runs.c.status.in_(FAILED_STATUSES), runs.c.started_at >= since)


def _open_failures(conn: sa.Connection, workspace: str) -> int:
    query = sa.select(sa.func.count()).select_from(failures).where(*FailureFilter().conditions(workspace))
    return int(conn.scalar(query) or 0)


def _count(conn: sa.Connection, *conditions: sa.ColumnElement[bool]) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(runs).where(*conditions)) or 0)
