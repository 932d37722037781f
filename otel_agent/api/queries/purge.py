"""Purge within one workspace: a user's data, or everything older than a cut-off.

The store's own purge (otel_agent.store.queries.purge, behind `otel-agent purge`) spans every
workspace; an API token must only ever reach its own, so this one selects the doomed runs in the
caller's workspace first: for a user, the runs that name them and every run nested under those
(``queries.user_runs``), then deletes their failures, steps and the runs themselves, children first.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.store import queries
from otel_agent.store.models import runs


def purge_workspace(
    conn: sa.Connection, workspace: str, user_id: str | None = None, before: datetime | None = None
) -> dict[str, int]:
    if (user_id is None) == (before is None):
        raise ValueError("purge needs exactly one of user_id and older_than_days")
    if user_id is not None:
        doomed = queries.user_runs(user_id, run_in(workspace))
    else:
        doomed = sa.select(runs.c.run_id).where(run_in(workspace), runs.c.started_at < before).cte("old_runs")
    return queries.purge_runs(conn, doomed)
