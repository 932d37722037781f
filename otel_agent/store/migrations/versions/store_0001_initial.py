"""store tables: runs, steps, failures

Revision ID: store_0001
Revises:
Create Date: 2026-11-22 01:51:48.482056
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "store_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in otel_agent.store.types (a revision must not change when models do).
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "otel_failures",
        sa.Column("failure_id", sa.String(length=48), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=32), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("step_name", sa.String(length=512), nullable=True),
        sa.Column("project", sa.String(length=256), nullable=True),
        sa.Column("stage", sa.String(length=256), nullable=True),
        sa.Column("agent_role", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("error_category", sa.String(length=64), nullable=False),
        sa.Column("error_type", sa.String(length=256), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("exception_type", sa.String(length=256), nullable=True),
        sa.Column("exception_stacktrace", sa.Text(), nullable=True),
        sa.Column("retry_attempt", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("failure_id", name=op.f("pk_otel_failures")),
    )
    with op.batch_alter_table("otel_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_otel_failures_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_otel_failures_resolved_occurred_at"), ["resolved", "occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_otel_failures_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_failures_user_id"), ["user_id"], unique=False)

    op.create_table(
        "otel_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("parent_span_id", sa.String(length=32), nullable=True),
        sa.Column("parent_run_id", sa.String(length=32), nullable=True),
        sa.Column("root_run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=True),
        sa.Column("stage", sa.String(length=256), nullable=True),
        sa.Column("agent_role", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("agent_name", sa.String(length=256), nullable=True),
        sa.Column("workflow_name", sa.String(length=256), nullable=True),
        sa.Column("workspace", sa.String(length=256), nullable=True),
        sa.Column("trigger_type", sa.String(length=64), nullable=True),
        sa.Column("trigger_id", sa.String(length=256), nullable=True),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("conversation_id", sa.String(length=256), nullable=True),
        sa.Column("request_id", sa.String(length=256), nullable=True),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("llm_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tool_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unpriced_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "models",
            _JSON,
            nullable=True,
        ),
        sa.Column(
            "providers",
            _JSON,
            nullable=True,
        ),
        sa.Column("tags", _JSON, nullable=True),
        sa.Column("error_category", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("input_content", sa.Text(), nullable=True),
        sa.Column("output_content", sa.Text(), nullable=True),
        sa.Column("span_seen", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_otel_runs")),
    )
    with op.batch_alter_table("otel_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_otel_runs_parent_run_id"), ["parent_run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_otel_runs_project_started_at"), ["project", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_otel_runs_root_run_id"), ["root_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_otel_runs_status_started_at"), ["status", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_otel_runs_trace_id"), ["trace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_runs_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_otel_runs_workspace_started_at"), ["workspace", "started_at"], unique=False
        )

    op.create_table(
        "otel_steps",
        sa.Column("span_id", sa.String(length=32), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("parent_span_id", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=True),
        sa.Column("stage", sa.String(length=256), nullable=True),
        sa.Column("agent_role", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("provider", sa.String(length=256), nullable=True),
        sa.Column("request_model", sa.String(length=256), nullable=True),
        sa.Column("response_model", sa.String(length=256), nullable=True),
        sa.Column("tool_name", sa.String(length=256), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("price_source", sa.String(length=32), nullable=True),
        sa.Column("retry_attempt", sa.Integer(), nullable=True),
        sa.Column("time_to_first_chunk_s", sa.Float(), nullable=True),
        sa.Column("error_category", sa.String(length=64), nullable=True),
        sa.Column("error_type", sa.String(length=256), nullable=True),
        sa.Column("input_content", sa.Text(), nullable=True),
        sa.Column("output_content", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("span_id", name=op.f("pk_otel_steps")),
    )
    with op.batch_alter_table("otel_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_otel_steps_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_steps_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_steps_trace_id"), ["trace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_otel_steps_user_id"), ["user_id"], unique=False)
    _orphan_index("otel_steps", "run_id")
    _orphan_index("otel_runs", "parent_run_id")


def _orphan_index(table: str, link: str) -> None:
    # Partial: only rows whose link is still unknown are indexed by parent span.
    where = sa.text(f"{link} IS NULL")
    op.create_index(
        f"ix_{table}_orphan_parent",
        table,
        ["parent_span_id"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_otel_runs_orphan_parent", table_name="otel_runs")
    op.drop_index("ix_otel_steps_orphan_parent", table_name="otel_steps")

    with op.batch_alter_table("otel_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otel_steps_user_id"))
        batch_op.drop_index(batch_op.f("ix_otel_steps_trace_id"))
        batch_op.drop_index(batch_op.f("ix_otel_steps_started_at"))
        batch_op.drop_index(batch_op.f("ix_otel_steps_run_id"))

    op.drop_table("otel_steps")
    with op.batch_alter_table("otel_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otel_runs_workspace_started_at"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_user_id"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_trace_id"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_status_started_at"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_root_run_id"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_project_started_at"))
        batch_op.drop_index(batch_op.f("ix_otel_runs_parent_run_id"))

    op.drop_table("otel_runs")
    with op.batch_alter_table("otel_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otel_failures_user_id"))
        batch_op.drop_index(batch_op.f("ix_otel_failures_run_id"))
        batch_op.drop_index(batch_op.f("ix_otel_failures_resolved_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_otel_failures_occurred_at"))

    op.drop_table("otel_failures")
