"""The health card and the trigger log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from otel_agent.api import deps, params
from otel_agent.api.queries.health import health_counts
from otel_agent.api.routes.audit import audit_out
from otel_agent.api.schemas import HealthOut, TriggerOut
from otel_agent.api.tables import utcnow
from otel_agent.audit import last_triggers, list_triggers, query_events

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Failed runs, open failures, triggers, audit")
def health(caller: deps.Viewer, engine: deps.Engine) -> HealthOut:
    with engine.connect() as conn:
        counts = health_counts(conn, caller.workspace, utcnow())
        triggers = last_triggers(conn, caller.workspace)
        audit_rows = query_events(conn, caller.workspace, limit=10)
    return HealthOut(
        workspace=caller.workspace,
        failed_runs_today=counts.failed_runs_today,
        failed_runs_24h=counts.failed_runs_24h,
        open_failures=counts.open_failures,
        running_runs=counts.running_runs,
        last_trigger_per_workflow=[TriggerOut.model_validate(r, from_attributes=True) for r in triggers],
        recent_audit_events=[audit_out(row) for row in audit_rows],
    )


@router.get("/triggers", response_model=list[TriggerOut], summary="Who or what started each run")
def triggers(
    caller: deps.Viewer,
    engine: deps.Engine,
    workflow: params.Text = None,
    trigger_type: params.Text = None,
    since: params.Since = None,
    limit: params.Limit = 50,
    latest: Annotated[bool, Query(description="only the latest run of each workflow")] = False,
) -> list[TriggerOut]:
    with engine.connect() as conn:
        if latest:
            rows = last_triggers(conn, caller.workspace, limit)
        else:
            rows = list_triggers(
                conn,
                caller.workspace,
                workflow=workflow,
                trigger_type=trigger_type,
                since=params.to_utc(since),
                limit=limit,
            )
    return [TriggerOut.model_validate(row, from_attributes=True) for row in rows]
