"""Request dependencies: who is calling (bearer token -> principal) and may they do this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from otel_agent.api.auth import Principal, Role
from otel_agent.api.config import ApiConfig
from otel_agent.api.tokens import TokenStore
from otel_agent.api.workspace_db import for_workspace

_bearer = HTTPBearer(auto_error=False, description="An API token from `otel-agent api token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def engine(request: Request) -> sa.Engine:
    """The store; bound to the caller's workspace once a token was checked (row-level security on
    PostgreSQL: workspace_db.py). Routes name their caller before the engine, so it is known here."""
    workspace = getattr(request.state, "workspace", None)
    if workspace is None:
        return request.app.state.engine
    return for_workspace(request.app.state.engine, workspace)


def config(request: Request) -> ApiConfig:
    return request.app.state.config


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """No token, no data: 401 for a missing, unknown or revoked token."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=_CHALLENGE)
    tokens: TokenStore = request.app.state.tokens
    found = tokens.verify(credentials.credentials)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers=_CHALLENGE)
    request.state.workspace = found.workspace  # what engine() binds the request's transactions to
    return found


def requires(role: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through tokens with at least `role` and answers 403 to the others."""

    def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if not caller.allows(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role.value} role")
        return caller

    return check


Viewer = Annotated[Principal, Depends(requires(Role.VIEWER))]
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
Engine = Annotated[sa.Engine, Depends(engine)]
Config = Annotated[ApiConfig, Depends(config)]
