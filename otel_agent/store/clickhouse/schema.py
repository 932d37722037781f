"""The ClickHouse store's tables and their versioned migrations (``otel-agent db upgrade`` on a
``clickhouse://`` or ``chdb://`` URL).

Every table takes appends only. What the SQL store updates in place is derived when read:

* ``otel_ch_run_facts``: one row per fact about a run: its own span (``source='span'``), each in-flight
  marker (``'marker'``, keyed by the marker's span id), a step that names it (``'placeholder'``), and
  each parent or root link found later (``'link'``). A run is the aggregation of its facts
  (otel_agent.store.clickhouse.views): the span wins, markers fill gaps, the highest ``link_rank`` gives
  the root. Aggregates such as argMax, min and max do not change when a row is repeated, so a fact
  delivered twice changes nothing even before ReplacingMergeTree folds the copies away.
* ``otel_ch_steps`` / ``otel_ch_failures``: one row per span; a step stored before its run was known is
  appended again with its run (``link_rank`` 1), and ReplacingMergeTree keeps the highest version of a
  span. Reads use FINAL, so a duplicate is never counted twice.

Why not Alembic: it needs a SQLAlchemy dialect (chDB has none, clickhouse-connect's is partial), its
migrations rely on transactional DDL that ClickHouse does not have, and ENGINE / ORDER BY / PARTITION
clauses are not expressible in SQLAlchemy's table metadata. A migration here is a list of idempotent
statements (IF NOT EXISTS), recorded in ``otel_ch_schema_versions`` once applied; rerunning one that
stopped half way is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION_TABLE = "otel_ch_schema_versions"
_TIME = "DateTime64(6, 'UTC')"
_NTEXT = "Nullable(String)"
_ATTRIBUTION = ("project", "stage", "agent_role", "user_id")
_RUN_TEXT = (
    "name", "operation", "status", *_ATTRIBUTION, "agent_name", "workflow_name", "workspace",
    "trigger_type", "trigger_id", "session_id", "conversation_id", "request_id", "service_name", "tags",
    "error_category", "error_message", "input_content", "output_content",
)  # fmt: skip
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens")


def _columns(*parts: tuple[str, ...] | list[str]) -> str:
    return ",\n    ".join(column for part in parts for column in part)


RUN_FACT_COLUMNS = (
    "run_id", "source", "fact_id", "trace_id", "parent_span_id", "parent_run_id", "root_run_id",
    "link_rank", *_RUN_TEXT, "started_at", "ended_at", "heartbeat_at", "duration_ms",
)  # fmt: skip
_RUN_FACTS = f"""
CREATE TABLE IF NOT EXISTS otel_ch_run_facts (
    run_id String,
    source LowCardinality(String),
    fact_id String,
    trace_id String,
    parent_span_id {_NTEXT},
    parent_run_id {_NTEXT},
    root_run_id {_NTEXT},
    link_rank UInt32,
    {_columns([f"{name} {_NTEXT}" for name in _RUN_TEXT])},
    started_at Nullable({_TIME}),
    ended_at Nullable({_TIME}),
    heartbeat_at Nullable({_TIME}),
    duration_ms Nullable(Float64)
) ENGINE = {{engine}}
ORDER BY (run_id, source, fact_id)
"""

STEP_COLUMNS = (
    "span_id", "trace_id", "parent_span_id", "run_id", "name", "kind", "operation", "status",
    *_ATTRIBUTION, "provider", "request_model", "response_model", "tool_name", "started_at", "ended_at",
    "duration_ms", *TOKENS, "cost_usd", "price_source", "retry_attempt", "time_to_first_chunk_s",
    "error_category", "error_type", "input_content", "output_content", "link_rank",
)  # fmt: skip
_STEPS = f"""
CREATE TABLE IF NOT EXISTS otel_ch_steps (
    span_id String,
    trace_id String,
    parent_span_id {_NTEXT},
    run_id {_NTEXT},
    name {_NTEXT},
    kind LowCardinality(String),
    operation LowCardinality(Nullable(String)),
    status LowCardinality(String),
    {_columns([f"{name} {_NTEXT}" for name in _ATTRIBUTION])},
    provider LowCardinality(Nullable(String)),
    request_model LowCardinality(Nullable(String)),
    response_model LowCardinality(Nullable(String)),
    tool_name {_NTEXT},
    started_at {_TIME},
    ended_at Nullable({_TIME}),
    duration_ms Nullable(Float64),
    {_columns([f"{name} UInt64" for name in TOKENS])},
    cost_usd Nullable(Float64),
    price_source LowCardinality(Nullable(String)),
    retry_attempt Nullable(Int32),
    time_to_first_chunk_s Nullable(Float64),
    error_category LowCardinality(Nullable(String)),
    error_type {_NTEXT},
    input_content {_NTEXT},
    output_content {_NTEXT},
    link_rank UInt8,
    INDEX ix_span span_id TYPE bloom_filter GRANULARITY 1,
    INDEX ix_run run_id TYPE bloom_filter GRANULARITY 1,
    INDEX ix_parent parent_span_id TYPE bloom_filter GRANULARITY 1
) ENGINE = {{engine}}
PARTITION BY toYYYYMM(started_at)
ORDER BY (toDate(started_at), span_id)
"""

FAILURE_COLUMNS = (
    "failure_id", "source", "run_id", "span_id", "trace_id", "step_name", *_ATTRIBUTION, "error_category",
    "error_type", "message", "exception_type", "exception_stacktrace", "retry_attempt", "occurred_at",
    "link_rank",
)  # fmt: skip
_FAILURES = f"""
CREATE TABLE IF NOT EXISTS otel_ch_failures (
    failure_id String,
    source LowCardinality(String),
    run_id {_NTEXT},
    span_id {_NTEXT},
    trace_id String,
    step_name {_NTEXT},
    {_columns([f"{name} {_NTEXT}" for name in _ATTRIBUTION])},
    error_category LowCardinality(String),
    error_type {_NTEXT},
    message {_NTEXT},
    exception_type {_NTEXT},
    exception_stacktrace {_NTEXT},
    retry_attempt Nullable(Int32),
    occurred_at Nullable({_TIME}),
    link_rank UInt8
) ENGINE = {{engine}}
ORDER BY failure_id
"""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables it creates (on a cluster, each also gets its Distributed table)."""
        return tuple(_table_of(s) for s in self.statements if s.lstrip().startswith("CREATE TABLE"))


MIGRATIONS = (Migration(1, "run facts, steps and failures", (_RUN_FACTS, _STEPS, _FAILURES)),)
TABLES = ("otel_ch_run_facts", "otel_ch_steps", "otel_ch_failures")
# The column ReplacingMergeTree keeps the highest of (none: the last inserted copy, all copies equal).
_VERSION_COLUMNS = {"otel_ch_steps": "link_rank", "otel_ch_failures": "link_rank"}

_VERSIONS = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version UInt32, description String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = {{engine}} ORDER BY version
"""


def _table_of(statement: str) -> str:
    return statement.split("IF NOT EXISTS", 1)[1].split("(", 1)[0].strip()


def render(statement: str, cluster: str | None = None) -> str:
    """A single server: ReplacingMergeTree tables under the names the store reads and writes. A cluster:
    ReplicatedReplacingMergeTree tables named ``<table>_local`` on every node (ON CLUSTER; the shard and
    replica macros come from each server's config), and under the store's names the Distributed tables
    over them (``distributed_ddl``), so the store's statements are the same on a cluster."""
    table = _table_of(statement)
    version = _VERSION_COLUMNS.get(table, "")
    if cluster is None:
        return statement.replace("{engine}", f"ReplacingMergeTree({version})")
    if table == VERSION_TABLE:  # one copy on every node of the cluster, not one per shard
        local, path = table, f"'/clickhouse/tables/all/{{database}}/{table}'"
    else:
        local, path = f"{table}_local", f"'/clickhouse/tables/{{shard}}/{{database}}/{table}'"
    arguments = ", ".join(filter(None, [path, "'{replica}'", version]))
    statement = statement.replace(f"IF NOT EXISTS {table}", f"IF NOT EXISTS {local} ON CLUSTER {cluster}")
    return statement.replace("{engine}", f"ReplicatedReplacingMergeTree({arguments})")


def version_table(cluster: str | None = None) -> str:
    return render(_VERSIONS, cluster)


def distributed_ddl(cluster: str, tables: tuple[str, ...] = TABLES) -> list[str]:
    """The Distributed tables a cluster is read and written through, sharded by trace: a trace's spans
    land on one shard, as they land on one sink, so a span's copies meet on one shard (FINAL folds
    them there) and a step's run, links and totals never cross shards."""
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {cluster} AS {table}_local "
        f"ENGINE = Distributed({cluster}, currentDatabase(), {table}_local, cityHash64(trace_id))"
        for table in tables
    ]
