"""Runs: the filtered, paged list, and one run with its steps, failures and trace link."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from otel_agent.api import deps, params
from otel_agent.api.links import trace_url
from otel_agent.api.pagination import Cursor
from otel_agent.api.queries import runs as q
from otel_agent.api.schemas import NOT_FOUND, FailureOut, Page, RunDetail, RunOut, StepOut

router = APIRouter(prefix="/runs", tags=["runs"])
RunStatus = Literal["running", "succeeded", "failed", "stalled", "cancelled"]
RunId = Annotated[
    str, Path(min_length=1, max_length=32, pattern=params.NO_NUL, description="the run span's 16-hex span id")
]


@router.get("", response_model=Page[RunOut], summary="Runs of this workspace, newest first")
def list_runs(
    caller: deps.Viewer,
    engine: deps.Engine,
    project: params.Text = None,
    stage: params.Text = None,
    role: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=params.NO_NUL, description="agent role")
    ] = None,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    user: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=params.NO_NUL, description="user id")
    ] = None,
    workflow: params.Text = None,
    trigger_type: params.Text = None,
    since: params.Since = None,
    until: params.Until = None,
    limit: params.Limit = 50,
    cursor: params.CursorParam = None,
) -> Page[RunOut]:
    where = q.RunFilter(
        project,
        stage,
        role,
        status_,
        user,
        workflow,
        trigger_type,
        params.to_utc(since),
        params.to_utc(until),
    )
    after = params.decode_cursor(cursor)
    with engine.connect() as conn:
        rows = q.list_runs(conn, caller.workspace, where, limit + 1, (after.at, after.key) if after else None)
    items = [RunOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    next_cursor = Cursor(last.started_at, last.run_id).encode() if last and last.started_at else None
    return Page[RunOut](items=items, next_cursor=next_cursor)


@router.get(
    "/{run_id}", responses=NOT_FOUND, response_model=RunDetail, summary="One run: steps, failures, trace link"
)
def get_run(run_id: RunId, caller: deps.Viewer, engine: deps.Engine, config: deps.Config) -> RunDetail:
    with engine.connect() as conn:
        run = q.get_run(conn, caller.workspace, run_id)
        if run is None:  # another workspace's run is "not found", never "forbidden": no existence leak
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id} in this workspace")
        step_rows, failure_rows = q.run_steps(conn, run_id), q.run_failures(conn, run_id)
        children = q.child_run_ids(conn, run_id)
    return RunDetail(
        run=RunOut.model_validate(run, from_attributes=True),
        trace_url=trace_url(config.grafana_url, config.tempo_uid, run.trace_id, run.started_at, run.ended_at),
        steps=[StepOut.model_validate(row, from_attributes=True) for row in step_rows],
        steps_truncated=len(step_rows) >= q.MAX_STEPS_PER_RUN,
        failures=[FailureOut.model_validate(row, from_attributes=True) for row in failure_rows],
        child_run_ids=children,
    )
