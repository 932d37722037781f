"""The usage and cost report: the same groupings and figures as `otel-agent report`, for one workspace.

The query and the aggregation are the store CLI's own (otel_agent.store.queries, otel_agent.cli.report);
this route only scopes them to the caller's workspace.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from otel_agent.api import deps, params
from otel_agent.api.schemas import Report, ReportRow
from otel_agent.api.tables import utcnow
from otel_agent.cli import report as cli_report
from otel_agent.store import queries

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
    since = utcnow() - timedelta(days=days)
    where = queries.RunFilter(
        project=project, stage=stage, agent_role=role, workspace=caller.workspace, since=since
    )
    per, key = cli_report._key_function(by)  # noqa: SLF001 - the CLI's grouping, reused as is
    with engine.connect() as conn:
        rows = queries.report_calls(conn, where) if per == "calls" else queries.report_runs(conn, where)
    groups = cli_report.aggregate(rows, key, per)
    return Report(by=by, since=since, groups=[ReportRow.model_validate(g) for g in groups])
