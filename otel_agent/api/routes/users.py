"""User activity: what one user ran, what it cost, how it went."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from otel_agent.api import deps, params
from otel_agent.api.queries import users as q
from otel_agent.api.schemas import ProjectActivity, RunOut, UserActivity
from otel_agent.api.tables import utcnow

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/{user_id}/activity", response_model=UserActivity, summary="One user's runs, cost and failures")
def user_activity(
    user_id: Annotated[str, Path(min_length=1, max_length=256, pattern=params.NO_NUL)],
    caller: deps.Viewer,
    engine: deps.Engine,
    days: Annotated[int, Query(ge=1, le=3650, description="window: the last N days")] = 30,
    recent: Annotated[int, Query(ge=0, le=200, description="how many recent runs to include")] = 20,
) -> UserActivity:
    since = utcnow() - timedelta(days=days)
    with engine.connect() as conn:
        totals = q.user_totals(conn, caller.workspace, user_id, since)
        projects = q.user_projects(conn, caller.workspace, user_id, since)
        recent_rows = q.user_recent_runs(conn, caller.workspace, user_id, recent) if recent else []
    return UserActivity(
        user_id=user_id,
        since=since,
        runs=totals.runs,
        succeeded=totals.succeeded or 0,
        failed=totals.failed or 0,
        input_tokens=int(totals.input_tokens or 0),
        output_tokens=int(totals.output_tokens or 0),
        cost_usd=float(totals.cost_usd or 0.0),
        unpriced_calls=int(totals.unpriced_calls or 0),
        first_seen=totals.first_seen,
        last_seen=totals.last_seen,
        projects=[ProjectActivity.model_validate(row, from_attributes=True) for row in projects],
        recent_runs=[RunOut.model_validate(row, from_attributes=True) for row in recent_rows],
    )
