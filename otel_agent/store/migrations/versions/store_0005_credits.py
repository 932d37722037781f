"""Credits beside cost_usd: steps.cost_credits (NULL when off) and runs.cost_credits (their sum)

Revision ID: store_0005_credits
Revises: store_0004_step_exchanges
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0005_credits"
down_revision: str | Sequence[str] | None = "store_0004_step_exchanges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("otel_steps", sa.Column("cost_credits", sa.Float(), nullable=True))
    op.add_column("otel_runs", sa.Column("cost_credits", sa.Float(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("otel_runs") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("cost_credits")
    with op.batch_alter_table("otel_steps") as batch:
        batch.drop_column("cost_credits")
