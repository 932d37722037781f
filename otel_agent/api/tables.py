"""The operator API's own tables: hashed API tokens and the audit trail.

Created by the Alembic revision ``api_0001`` (otel_agent/store/migrations/versions), on top of the store's
tables. This module imports no web framework, so application code can write audit records without the
`api` extra installed.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from otel_agent.store.models import NAMING_CONVENTION
from otel_agent.store.types import Json, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT where rows grow without bound.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

api_tokens = sa.Table(
    "otel_api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("workspace", sa.String(200), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the token
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

audit_events = sa.Table(
    "otel_audit_events",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("workspace", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target", sa.String(500), nullable=False, server_default=""),
    sa.Column("outcome", sa.String(20), nullable=False, server_default="success"),
    sa.Column("source", sa.String(20), nullable=False, server_default="app"),  # app | api
    sa.Column("details", Json, nullable=True),
    sa.Index(None, "workspace", "at", "id"),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """Everything we store is UTC; a naive value (SQLite, raw SQL) is labelled as such."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
