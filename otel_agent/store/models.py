"""The store's tables: one row per run, one per step (every other span of a run), one per failure.

Core tables rather than ORM classes: the materialiser writes in bulk and the CLI reads with plain
selects, so neither needs identity maps. Constraint names come from the naming convention, so Alembic
revisions and the upsert helper agree on them. docs/schema.md describes every column.
"""

from __future__ import annotations

import sqlalchemy as sa

from otel_agent.store.types import Count, Json, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

ID = sa.String(32)  # hex span / trace ids (16 / 32 chars)
NAME = sa.String(256)

RUN_STATUS_RUNNING = "running"
RUN_STATUS_SUCCEEDED = "succeeded"
RUN_STATUS_FAILED = "failed"
RUN_STATUS_STALLED = "stalled"
RUN_STATUS_CANCELLED = "cancelled"
TERMINAL_RUN_STATUSES = (RUN_STATUS_SUCCEEDED, RUN_STATUS_FAILED, RUN_STATUS_CANCELLED)


def _tokens() -> list[sa.Column[int]]:
    names = (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
    )
    return [sa.Column(n, Count, nullable=False, server_default="0") for n in names]


def _attribution() -> list[sa.Column[str]]:
    return [sa.Column(n, NAME) for n in ("project", "stage", "agent_role", "user_id")]


runs = sa.Table(
    "otel_runs",
    metadata,
    sa.Column("run_id", ID, primary_key=True),  # the run span's span id
    sa.Column("trace_id", ID, nullable=False),
    sa.Column("parent_span_id", ID),
    sa.Column("parent_run_id", ID),  # the enclosing run, for nested runs
    sa.Column("root_run_id", ID, nullable=False),  # the outermost run (itself when top-level)
    sa.Column("name", sa.String(512)),
    sa.Column("operation", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    *_attribution(),
    sa.Column("agent_name", NAME),
    sa.Column("workflow_name", NAME),
    sa.Column("workspace", NAME),
    sa.Column("trigger_type", sa.String(64)),
    sa.Column("trigger_id", NAME),
    sa.Column("session_id", NAME),
    sa.Column("conversation_id", NAME),
    sa.Column("request_id", NAME),
    sa.Column("service_name", NAME),
    sa.Column("started_at", UtcDateTime),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("last_heartbeat_at", UtcDateTime),
    sa.Column("duration_ms", sa.Float),
    *_tokens(),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("cost_credits", sa.Float, nullable=False, server_default="0"),  # 0 when credits are off
    sa.Column("llm_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tool_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unpriced_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("models", Json),  # sorted distinct models used by its steps
    sa.Column("providers", Json),
    sa.Column("tags", Json),  # otel_agent.tag.* without the prefix
    sa.Column("error_category", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Column("input_content", sa.Text),
    sa.Column("output_content", sa.Text),
    sa.Column("span_seen", sa.Boolean, nullable=False, server_default=sa.false()),  # its own span arrived
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(None, "started_at"),
    sa.Index(None, "project", "started_at"),
    sa.Index(None, "status", "started_at"),
    sa.Index(None, "workspace", "started_at"),
    sa.Index(None, "user_id"),
    sa.Index(None, "trace_id"),
    sa.Index(None, "parent_run_id"),
    sa.Index(None, "root_run_id"),
    sa.Index(
        "ix_otel_runs_orphan_parent",
        "parent_span_id",
        sqlite_where=sa.text("parent_run_id IS NULL"),
        postgresql_where=sa.text("parent_run_id IS NULL"),
    ),
)

steps = sa.Table(
    "otel_steps",
    metadata,
    sa.Column("span_id", ID, primary_key=True),
    sa.Column("trace_id", ID, nullable=False),
    sa.Column("parent_span_id", ID),
    sa.Column("run_id", ID),  # innermost enclosing run; NULL until its ancestors arrive
    sa.Column("name", sa.String(512)),
    sa.Column("kind", sa.String(16), nullable=False),  # llm | tool | agent | http | span
    sa.Column("operation", sa.String(64)),
    sa.Column("status", sa.String(8), nullable=False),  # ok | error | unset
    *_attribution(),
    sa.Column("provider", NAME),
    sa.Column("request_model", NAME),
    sa.Column("response_model", NAME),
    sa.Column("tool_name", NAME),
    sa.Column("started_at", UtcDateTime),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("duration_ms", sa.Float),
    *_tokens(),
    sa.Column("cost_usd", sa.Float),  # NULL: not priced (not an LLM call, or an unknown model)
    sa.Column("cost_credits", sa.Float),  # NULL: credits off or not priced (docs/budgets.md)
    sa.Column("price_source", sa.String(32)),
    sa.Column("retry_attempt", sa.Integer),
    sa.Column("time_to_first_chunk_s", sa.Float),
    sa.Column("error_category", sa.String(64)),
    sa.Column("error_type", NAME),
    sa.Column("input_content", sa.Text),
    sa.Column("output_content", sa.Text),
    # Another span of the same LLM exchange is the counted one (otel_agent.exchange): this one adds no
    # call, tokens, cost, error or failure. NULL: counted. Set by store.exchanges, never by a row.
    sa.Column("duplicate_of", ID),
    sa.Column("on_wire", sa.Boolean),  # the span saw the HTTP exchange (HTTP attributes, retry attempt)
    sa.Index(None, "run_id"),
    sa.Index(None, "trace_id"),
    sa.Index(None, "started_at"),
    sa.Index(None, "user_id"),
    # Only orphans (run not yet known) are indexed by parent: small, and what relinking looks up.
    sa.Index(
        "ix_otel_steps_orphan_parent",
        "parent_span_id",
        sqlite_where=sa.text("run_id IS NULL"),
        postgresql_where=sa.text("run_id IS NULL"),
    ),
)

failures = sa.Table(
    "otel_failures",
    metadata,
    sa.Column("failure_id", sa.String(48), primary_key=True),  # the span id, or "stall:<run id>"
    sa.Column("source", sa.String(8), nullable=False),  # step | run | stall
    sa.Column("run_id", ID),
    sa.Column("span_id", ID),
    sa.Column("trace_id", ID),
    sa.Column("step_name", sa.String(512)),
    *_attribution(),
    sa.Column("error_category", sa.String(64), nullable=False),
    sa.Column("error_type", NAME),
    sa.Column("message", sa.Text),
    sa.Column("exception_type", NAME),
    sa.Column("exception_stacktrace", sa.Text),
    sa.Column("retry_attempt", sa.Integer),
    sa.Column("occurred_at", UtcDateTime),
    sa.Column("resolved", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolved_at", UtcDateTime),
    sa.Index(None, "run_id"),
    sa.Index(None, "occurred_at"),
    sa.Index(None, "resolved", "occurred_at"),
    sa.Index(None, "user_id"),
)

# The LLM-call roll-up behind the report by model or provider (otel_agent.store.call_rollup): one row per
# (workspace, period, grouping, value), where a period is a UTC hour or a UTC day of the runs' start,
# rebuilt whole when it changes; and one fingerprint row per (workspace, period) saying which state of
# the runs it was built from.
FLOATS = sa.ARRAY(sa.Float).with_variant(sa.JSON(), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER keys only

call_rollup_periods = sa.Table(
    "otel_call_rollup_periods",
    metadata,
    sa.Column("workspace", NAME),  # as on the runs: NULL when none was set
    sa.Column("period", sa.String(4), nullable=False),  # "hour" or "day"
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),  # the period's runs when it was built ...
    sa.Column("last_update", UtcDateTime, nullable=False),  # ... and their latest updated_at
    sa.Column("built_at", UtcDateTime, nullable=False),
    sa.Index(None, "period", "starts_at", "workspace"),
)

call_rollups = sa.Table(
    "otel_call_rollups",
    metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("workspace", NAME),
    sa.Column("period", sa.String(4), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("grouping", sa.String(16), nullable=False),  # "model" or "provider"
    sa.Column("value", NAME),  # the model or provider (NULL when the calls did not say)
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("ended", sa.Integer, nullable=False),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("input_tokens", Count, nullable=False),
    sa.Column("output_tokens", Count, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    # Every call's duration_ms, ascending, as big-endian float8s: stored uncompressed out of line, so
    # reading a slice (substring) fetches only the TOAST chunks it covers.
    sa.Column("durations", sa.LargeBinary, nullable=False),
    sa.Column("marks", FLOATS, nullable=False),  # durations[every], durations[2 * every], ...
    sa.Column("mark_every", sa.Integer, nullable=False),
    sa.Index(None, "grouping", "period", "starts_at", "workspace"),
)
