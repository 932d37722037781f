"""Token management for admins, within their own workspace."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request, status

from otel_agent.api import deps
from otel_agent.api.schemas import NOT_FOUND, TokenCreated, TokenIn, TokenOut
from otel_agent.api.tokens import TokenStore
from otel_agent.audit import AuditEvent, record_events

router = APIRouter(prefix="/tokens", tags=["tokens"])


def _store(request: Request) -> TokenStore:
    return request.app.state.tokens


@router.get("", response_model=list[TokenOut], summary="Tokens of this workspace (never their secrets)")
def list_tokens(request: Request, caller: deps.Admin) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True) for t in _store(request).list(caller.workspace)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, summary="Create a token")
def create_token(body: TokenIn, request: Request, caller: deps.Admin, engine: deps.Engine) -> TokenCreated:
    secret, info = _store(request).create(caller.workspace, body.role, body.name)
    _audit(engine, caller.actor, "token.create", info.id, caller.workspace, {"role": info.role.value})
    return TokenCreated(token=secret, **TokenOut.model_validate(info, from_attributes=True).model_dump())


@router.delete(
    "/{token_id}", responses=NOT_FOUND, status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token"
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    caller: deps.Admin,
    engine: deps.Engine,
) -> None:
    store = _store(request)
    mine = {t.id for t in store.list(caller.workspace) if t.revoked_at is None}
    if token_id not in mine or not store.revoke(token_id):  # another workspace's token is "not found"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live token {token_id} in this workspace")
    _audit(engine, caller.actor, "token.revoke", token_id, caller.workspace, None)


def _audit(
    engine: sa.Engine, actor: str, action: str, token_id: int, workspace: str, details: dict | None
) -> None:
    event = AuditEvent(actor, action, f"token:{token_id}", workspace, details=details, source="api")
    with engine.begin() as conn:
        record_events(conn, [event])
