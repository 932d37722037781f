"""Purge within one workspace: a user's data, or everything older than a cut-off.

The store's own purge (otel_agent.store.queries.purge, behind `otel-agent purge`) spans every
workspace; an API token must only ever reach its own, so this one selects the doomed runs by workspace
first and deletes their failures, steps and the runs themselves, children first.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.store.models import failures, runs, steps


def purge_workspace(
    conn: sa.Connection, workspace: str, user_id: str | None = None, before: datetime | None = None
) -> dict[str, int]:
    if (user_id is None) == (before is None):
        raise ValueError("purge needs exactly one of user_id and older_than_days")
    condition = runs.c.user_id == user_id if user_id is not None else runs.c.started_at < before
    doomed = sa.select(runs.c.run_id).where(run_in(workspace), condition)
    return {
        "failures": conn.execute(failures.delete().where(failures.c.run_id.in_(doomed))).rowcount,
        "steps": conn.execute(steps.delete().where(steps.c.run_id.in_(doomed))).rowcount,
        "runs": conn.execute(runs.delete().where(runs.c.run_id.in_(doomed))).rowcount,
    }
