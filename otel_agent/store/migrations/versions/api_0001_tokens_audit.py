"""operator API tables: hashed API tokens and the audit trail

Revision ID: api_0001
Revises: store_0001
Create Date: 2026-11-22 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "api_0001"
down_revision: str | Sequence[str] | None = "store_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types (a revision must not change when the models do).
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "otel_api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("workspace", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otel_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_otel_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_otel_api_tokens_workspace"), "otel_api_tokens", ["workspace"])
    op.create_table(
        "otel_audit_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("workspace", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=500), server_default="", nullable=False),
        sa.Column("outcome", sa.String(length=20), server_default="success", nullable=False),
        sa.Column("source", sa.String(length=20), server_default="app", nullable=False),
        sa.Column("details", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otel_audit_events")),
    )
    op.create_index(
        op.f("ix_otel_audit_events_workspace_at_id"), "otel_audit_events", ["workspace", "at", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_otel_audit_events_workspace_at_id"), table_name="otel_audit_events")
    op.drop_table("otel_audit_events")
    op.drop_index(op.f("ix_otel_api_tokens_workspace"), table_name="otel_api_tokens")
    op.drop_table("otel_api_tokens")
