"""Steps record which span of an LLM exchange is counted (duplicate_of) and which saw the wire (on_wire)

Revision ID: store_0004_step_exchanges
Revises: store_0003_rls
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0004_step_exchanges"
down_revision: str | Sequence[str] | None = "store_0003_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(length=32)  # frozen copy of models.ID


def upgrade() -> None:
    with op.batch_alter_table("otel_steps") as batch:
        batch.add_column(sa.Column("duplicate_of", _ID, nullable=True))
        batch.add_column(sa.Column("on_wire", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("otel_steps") as batch:
        batch.drop_column("on_wire")
        batch.drop_column("duplicate_of")
