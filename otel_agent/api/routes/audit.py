"""The audit trail: read it, and let other services add to it."""

from __future__ import annotations

from fastapi import APIRouter, status

from otel_agent.api import deps, params
from otel_agent.api.pagination import Cursor
from otel_agent.api.schemas import AuditEventIn, AuditEventOut, Page
from otel_agent.api.tables import as_utc
from otel_agent.audit import AuditEvent, query_events, record_events

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventOut], summary="Audit events, newest first")
def list_audit_events(
    caller: deps.Viewer,
    engine: deps.Engine,
    actor: params.Text = None,
    action: params.Text = None,
    target: params.Text = None,
    since: params.Since = None,
    until: params.Until = None,
    limit: params.Limit = 50,
    cursor: params.CursorParam = None,
) -> Page[AuditEventOut]:
    before = params.int_key(params.decode_cursor(cursor))
    with engine.connect() as conn:
        rows = query_events(
            conn,
            caller.workspace,
            actor=actor,
            action=action,
            target=target,
            since=params.to_utc(since),
            until=params.to_utc(until),
            before=before,
            limit=limit + 1,  # one extra row says whether a next page exists
        )
    return audit_page(rows, limit)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record an audit event")
def add_audit_event(body: AuditEventIn, caller: deps.Operator, engine: deps.Engine) -> dict[str, str]:
    details = {**(body.details or {}), "recorded_by": caller.actor}
    event = AuditEvent(
        body.actor, body.action, body.target, caller.workspace, body.outcome, details, source="api"
    )
    with engine.begin() as conn:
        record_events(conn, [event])
    return {"status": "recorded"}


def audit_out(row: object) -> AuditEventOut:
    out = AuditEventOut.model_validate(row, from_attributes=True)
    out.at = as_utc(out.at) or out.at
    return out


def audit_page(rows: list, limit: int) -> Page[AuditEventOut]:
    items = [audit_out(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    next_cursor = Cursor(last.at, str(last.id)).encode() if last else None
    return Page[AuditEventOut](items=items, next_cursor=next_cursor)
