"""Query parameters shared by several endpoints, with the checks that turn bad input into a clear 4xx."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import HTTPException, Query, status

from otel_agent.api.pagination import BadCursor, Cursor

# PostgreSQL text cannot hold NUL: refuse it up front with a 422 rather than fail in the driver.
NO_NUL = r"^[^\x00]*$"

Limit = Annotated[int, Query(ge=1, le=500, description="page size (1-500)")]
CursorParam = Annotated[str | None, Query(max_length=200, description="`next_cursor` from the previous page")]
Since = Annotated[datetime | None, Query(description="ISO 8601; without an offset it is UTC")]
Until = Annotated[datetime | None, Query(description="ISO 8601, exclusive; without an offset it is UTC")]
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)]


def to_utc(value: datetime | None) -> datetime | None:
    """Every stored time is UTC; compare like with like (naive input is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def decode_cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        cursor = Cursor.decode(text)
    except BadCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return Cursor(to_utc(cursor.at) or cursor.at, cursor.key)


def int_key(cursor: Cursor | None) -> tuple[datetime, int] | None:
    """A cursor whose key is an integer row id."""
    if cursor is None:
        return None
    try:
        return cursor.at, int(cursor.key)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "malformed cursor: not from this list") from None
