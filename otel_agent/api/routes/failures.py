"""Failures: list, group by error, resolve one or a whole group (operator; audited)."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from otel_agent.api import deps, params
from otel_agent.api.pagination import Cursor
from otel_agent.api.queries import failures as q
from otel_agent.api.schemas import NOT_FOUND, FailureGroup, FailureOut, Page, Resolved, ResolveGroup
from otel_agent.audit import AuditEvent, record_events
from otel_agent.store.models import failures as failures_table

router = APIRouter(prefix="/failures", tags=["failures"])
State = Annotated[Literal["open", "resolved", "all"], Query(description="open (default), resolved or all")]
FailureId = Annotated[str, Path(min_length=1, max_length=48, pattern=params.NO_NUL)]


def _filter(
    state: State = "open",
    category: params.Text = None,
    project: params.Text = None,
    stage: params.Text = None,
    since: params.Since = None,
    until: params.Until = None,
) -> q.FailureFilter:
    return q.FailureFilter(state, category, project, stage, params.to_utc(since), params.to_utc(until))


Filter = Annotated[q.FailureFilter, Depends(_filter)]


@router.get("", response_model=Page[FailureOut], summary="Failures, newest first")
def list_failures(
    caller: deps.Viewer,
    engine: deps.Engine,
    where: Filter,
    limit: params.Limit = 50,
    cursor: params.CursorParam = None,
) -> Page[FailureOut]:
    after = params.decode_cursor(cursor)
    with engine.connect() as conn:
        rows = q.list_failures(
            conn, caller.workspace, where, limit + 1, (after.at, after.key) if after else None
        )
    items = [FailureOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    next_cursor = Cursor(last.occurred_at, last.failure_id).encode() if last and last.occurred_at else None
    return Page[FailureOut](items=items, next_cursor=next_cursor)


@router.get("/groups", response_model=list[FailureGroup], summary="Failures grouped by error and message")
def failure_groups(
    caller: deps.Viewer, engine: deps.Engine, where: Filter, limit: params.Limit = 50
) -> list[FailureGroup]:
    with engine.connect() as conn:
        rows = q.failure_groups(conn, caller.workspace, where, limit)
    return [FailureGroup.model_validate(row, from_attributes=True) for row in rows]


@router.get("/{failure_id}", responses=NOT_FOUND, response_model=FailureOut, summary="One failure")
def get_failure(failure_id: FailureId, caller: deps.Viewer, engine: deps.Engine) -> FailureOut:
    with engine.connect() as conn:
        row = q.get_failure(conn, caller.workspace, failure_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no failure {failure_id} in this workspace")
    return FailureOut.model_validate(row, from_attributes=True)


@router.post(
    "/{failure_id}/resolve",
    responses=NOT_FOUND,
    response_model=FailureOut,
    summary="Resolve one failure (operator)",
)
def resolve_failure(failure_id: FailureId, caller: deps.Operator, engine: deps.Engine) -> FailureOut:
    with engine.begin() as conn:
        changed = q.resolve(conn, caller.workspace, failures_table.c.failure_id == failure_id)
        row = q.get_failure(conn, caller.workspace, failure_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no failure {failure_id} in this workspace")
        if changed:  # resolving twice is harmless and audited once
            _audit(conn, caller.actor, caller.workspace, f"failure:{failure_id}", {"resolved": 1})
    return FailureOut.model_validate(row, from_attributes=True)


@router.post("/resolve", response_model=Resolved, summary="Resolve every open failure of a group (operator)")
def resolve_group(body: ResolveGroup, caller: deps.Operator, engine: deps.Engine) -> Resolved:
    conditions = q.group_conditions(body.error_category, body.error_type, body.message)
    with engine.begin() as conn:
        changed = q.resolve(conn, caller.workspace, *conditions)
        if changed:
            target = f"failure-group:{body.error_category}:{body.error_type or ''}"
            details = {"resolved": len(changed), "message": (body.message or "")[:500]}
            _audit(conn, caller.actor, caller.workspace, target, details)
    return Resolved(resolved=len(changed))


def _audit(conn: sa.Connection, actor: str, workspace: str, target: str, details: dict) -> None:
    event = AuditEvent(actor, "failure.resolve", target, workspace, details=details, source="api")
    record_events(conn, [event])  # in the same transaction as the change it records
