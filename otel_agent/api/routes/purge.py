"""Purge (admin only, audited): one user's data, or everything older than N days, in this workspace."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException

from otel_agent.api import deps
from otel_agent.api.queries.purge import purge_workspace
from otel_agent.api.schemas import PurgeIn, PurgeOut
from otel_agent.api.tables import utcnow
from otel_agent.audit import AuditEvent, record_events

router = APIRouter(tags=["purge"])


@router.post("/purge", response_model=PurgeOut, summary="Delete a user's data or old data (admin)")
def purge(body: PurgeIn, caller: deps.Admin, engine: deps.Engine) -> PurgeOut:
    if (body.user_id is None) == (body.older_than_days is None):
        raise HTTPException(422, "give exactly one of user_id, older_than_days")
    before = utcnow() - timedelta(days=body.older_than_days) if body.older_than_days else None
    with engine.connect() as conn, conn.begin() as transaction:
        counts = purge_workspace(conn, caller.workspace, body.user_id, before)
        if body.dry_run:
            transaction.rollback()
        else:  # audited in the same transaction: no deletion without its record
            target = f"user:{body.user_id}" if body.user_id else f"older-than:{body.older_than_days}d"
            event = AuditEvent(
                caller.actor, "data.purge", target, caller.workspace, details=counts, source="api"
            )
            record_events(conn, [event])
    return PurgeOut(dry_run=body.dry_run, **counts)
