"""LLM-call roll-up per workspace and hour / day, behind the report by model or provider

Revision ID: store_0002
Revises: api_0001
Create Date: 2026-11-22 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0002"
down_revision: str | Sequence[str] | None = "api_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types (a revision must not change when the models do).
_NAME = sa.String(length=256)
_TIME = sa.DateTime(timezone=True)
_FLOATS = sa.ARRAY(sa.Float()).with_variant(sa.JSON(), "sqlite")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "otel_call_rollup_periods",
        sa.Column("workspace", _NAME, nullable=True),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_update", _TIME, nullable=False),
        sa.Column("built_at", _TIME, nullable=False),
    )
    op.create_index(
        op.f("ix_otel_call_rollup_periods_period_starts_at_workspace"),
        "otel_call_rollup_periods",
        ["period", "starts_at", "workspace"],
    )
    op.create_table(
        "otel_call_rollups",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("workspace", _NAME, nullable=True),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("value", _NAME, nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("durations", sa.LargeBinary(), nullable=False),
        sa.Column("marks", _FLOATS, nullable=False),
        sa.Column("mark_every", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otel_call_rollups")),
    )
    op.create_index(
        op.f("ix_otel_call_rollups_grouping_period_starts_at_workspace"),
        "otel_call_rollups",
        ["grouping", "period", "starts_at", "workspace"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Out of line, uncompressed: a slice of the durations reads only the TOAST chunks it covers.
        op.execute("ALTER TABLE otel_call_rollups ALTER COLUMN durations SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("otel_call_rollups")
    op.drop_table("otel_call_rollup_periods")
