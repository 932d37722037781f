"""Response and request bodies: they give the OpenAPI document its shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from otel_agent.api.auth import Role

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="null on the last page")


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    source: str = Field(description="app: recorded by application code; api: by the operator API")
    details: dict[str, Any] | None = None


class AuditEventIn(BaseModel):
    """An audit event recorded by another service through the API."""

    actor: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=100)
    target: str = Field("", max_length=500)
    outcome: str = Field("success", min_length=1, max_length=20)
    details: dict[str, Any] | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    workspace: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown this once and never stored in clear.")


class TokenIn(BaseModel):
    role: Role
    name: str = Field("", max_length=200)


class Problem(BaseModel):
    """An error: `detail` says what was wrong and how to fix it."""

    detail: Any
