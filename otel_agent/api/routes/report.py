"""The usage and cost report: the same groupings and figures as `otel-agent report`, for one workspace.

Same filters and groupings as the CLI (otel_agent.store.queries, otel_agent.cli.report), scoped to the
caller's workspace; aggregated in SQL on PostgreSQL (see otel_agent.api.queries.report).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from otel_agent.api import deps, params
from otel_agent.api.queries.report import WorkspaceRunFilter, usage_report
from otel_agent.api.schemas import Report, ReportRow
from otel_agent.api.tables import utcnow
from otel_agent.store.queries import report_grouping

router = APIRouter(tags=["report"])
_BY_HELP = "project, stage, role, status, user, trigger, provider, model, or a run tag (tag:NAME)"


@router.get("/report", response_model=Report, summary="Runs, success, latency, tokens and cost by group")
def report(
    caller: deps.Viewer,
    engine: deps.Engine,
    by: Annotated[
        str, Query(min_length=1, max_length=100, pattern=params.NO_NUL, description=_BY_HELP)
    ] = "project",
    days: Annotated[int, Query(ge=1, le=3650, description="window: the last N days")] = 30,
    project: params.Text = None,
    stage: params.Text = None,
    role: params.Text = None,
) -> Report:
    try:
        report_grouping(by)
    except ValueError as exc:  # a 422 shaped like any invalid parameter's, naming the valid values
        error = {"type": "value_error", "loc": ("query", "by"), "msg": str(exc).replace("--by", "by")}
        raise RequestValidationError([error]) from None
    since = utcnow() - timedelta(days=days)
    where = WorkspaceRunFilter(
        project=project, stage=stage, agent_role=role, workspace=caller.workspace, since=since
    )
    with engine.connect() as conn:
        groups = usage_report(conn, where, by)
    return Report(by=by, since=since, groups=[ReportRow.model_validate(g) for g in groups])
