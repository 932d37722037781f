"""The ClickHouse store read back: runs and failures as the SQL store shows them, derived by aggregation.

A run is the GROUP BY of its facts (schema.py) joined with the sums over its steps:

* facts (name, attribution, times, ...): the run's own span wins, then the latest marker, then older ones;
* root: the link fact of highest ``link_rank``; parent: any link that names one (they all name the same);
* status: the span's when it arrived; else ``stalled`` once a sweep appended a stall failure; else running;
* totals, models, providers, first and last step: aggregated over its steps (FINAL: each span once);
* a failure is resolved when its run ended (a stall) or succeeded (any failure), at the run's end.
"""

from __future__ import annotations

from otel_agent.store.clickhouse.schema import TOKENS

RUN_FACTS = (
    "name", "operation", "project", "stage", "agent_role", "user_id", "agent_name", "workflow_name",
    "workspace", "trigger_type", "trigger_id", "session_id", "conversation_id", "request_id",
    "service_name", "tags", "input_content", "output_content", "parent_span_id", "started_at",
)  # fmt: skip
_SPAN_ONLY = ("ended_at", "duration_ms", "error_category", "error_message")
_ZERO_TIME = "toDateTime64(0, 6, 'UTC')"
NEW_CALL = "kind = 'llm' AND coalesce(retry_attempt, 0) <= 0"
MODEL = "coalesce(response_model, request_model)"


def _fact(column: str) -> str:
    return f"argMaxIf({column}, prio, {column} IS NOT NULL) AS {column}"


def run_facts(where: str = "1") -> str:
    """One row per run from its facts (no totals): ``where`` selects fact rows, e.g. by run id."""
    return f"""
SELECT run_id,
    argMaxIf(trace_id, prio, trace_id != '') AS trace_id,
    {", ".join(_fact(c) for c in RUN_FACTS)},
    anyIf(parent_run_id, parent_run_id IS NOT NULL) AS parent_run_id,
    argMaxIf(root_run_id, link_rank, root_run_id IS NOT NULL) AS root_run_id,
    countIf(source = 'span') > 0 AS span_seen,
    anyIf(status, source = 'span') AS span_status,
    {", ".join(f"anyIf({c}, source = 'span') AS span_{c}" for c in _SPAN_ONLY)},
    maxIf(heartbeat_at, source = 'marker') AS marker_heartbeat_at
FROM (
    SELECT *, tuple(source = 'span', coalesce(heartbeat_at, {_ZERO_TIME})) AS prio
    FROM otel_ch_run_facts WHERE {where}
)
GROUP BY run_id"""


def step_totals(where: str = "1") -> str:
    """Sums over each run's steps, each span counted once (FINAL), as the SQL store's totals."""
    sums = ", ".join(f"sum({name}) AS {name}" for name in TOKENS)
    return f"""
SELECT run_id, {sums},
    round(coalesce(sum(cost_usd), 0), 10) AS cost_usd,
    countIf({NEW_CALL}) AS llm_calls,
    countIf(kind = 'tool') AS tool_calls,
    countIf(status = 'error') AS error_count,
    countIf({NEW_CALL} AND (cost_usd IS NULL OR price_source = 'unpriced')) AS unpriced_calls,
    arraySort(groupUniqArrayIf({MODEL}, kind = 'llm' AND {MODEL} IS NOT NULL)) AS models,
    arraySort(groupUniqArrayIf(provider, kind = 'llm' AND provider IS NOT NULL)) AS providers,
    min(started_at) AS first_step_at, max(ended_at) AS last_step_at
FROM otel_ch_steps FINAL WHERE run_id IS NOT NULL AND ({where})
GROUP BY run_id"""


STALLS = "SELECT run_id, any(message) AS message FROM otel_ch_failures WHERE source = 'stall' GROUP BY run_id"


def _later(a: str, b: str) -> str:
    return f"if({a} IS NULL, {b}, if({b} IS NULL, {a}, greatest({a}, {b})))"


def runs(fact_where: str = "1", step_where: str = "1") -> str:
    """Runs shaped as otel_runs rows. Narrow both ``where`` clauses to the same runs when you can."""
    totals = ", ".join(f"coalesce(t.{n}, 0) AS {n}" for n in (*TOKENS, "cost_usd", "llm_calls", "tool_calls",
                                                              "error_count", "unpriced_calls"))  # fmt: skip
    stalled = "st.run_id IS NOT NULL"
    return f"""
SELECT f.run_id AS run_id, f.trace_id AS trace_id, f.parent_span_id AS parent_span_id,
    f.parent_run_id AS parent_run_id, coalesce(f.root_run_id, f.run_id) AS root_run_id,
    {", ".join(f"f.{c} AS {c}" for c in RUN_FACTS if c not in ("parent_span_id", "started_at"))},
    multiIf(f.span_seen, f.span_status, {stalled}, 'stalled', 'running') AS status,
    coalesce(f.started_at, t.first_step_at) AS started_at,
    f.span_ended_at AS ended_at, f.span_duration_ms AS duration_ms,
    {_later("f.marker_heartbeat_at", "t.last_step_at")} AS last_heartbeat_at,
    {totals},
    if(empty(t.models), NULL, t.models) AS models, if(empty(t.providers), NULL, t.providers) AS providers,
    if(f.span_seen, f.span_error_category, if({stalled}, 'stalled', NULL)) AS error_category,
    if(f.span_seen, f.span_error_message, if({stalled}, st.message, NULL)) AS error_message,
    f.span_seen AS span_seen
FROM ({run_facts(fact_where)}) AS f
LEFT JOIN ({step_totals(step_where)}) AS t ON t.run_id = f.run_id
LEFT JOIN ({STALLS}) AS st ON st.run_id = f.run_id"""


TERMINAL = "('succeeded', 'failed', 'cancelled')"


def failures(where: str = "1", run_ids: str = "SELECT run_id FROM f") -> str:
    """Failures shaped as otel_failures rows, ``resolved`` derived from their run."""
    resolved = f"r.status IN {TERMINAL} AND (f.source = 'stall' OR r.status = 'succeeded')"
    in_runs = f"run_id IN ({run_ids})"
    return f"""
WITH f AS (SELECT * EXCEPT link_rank FROM otel_ch_failures FINAL WHERE {where})
SELECT f.*, coalesce({resolved}, 0) AS resolved, if({resolved}, r.ended_at, NULL) AS resolved_at
FROM f LEFT JOIN ({runs(in_runs, in_runs)}) AS r ON r.run_id = f.run_id"""


_FILTERED = ("project", "stage", "agent_role", "user_id", "workspace")


def run_status() -> str:
    """Runs reduced to what a report filters and counts on: status, attribution, start (a run known
    only from its steps starts at its first step, as in ``runs``)."""
    facts = ", ".join(_fact(c) for c in (*_FILTERED, "started_at"))
    undated = (
        "SELECT run_id FROM otel_ch_run_facts GROUP BY run_id HAVING countIf(started_at IS NOT NULL) = 0"
    )
    return f"""
SELECT f.run_id AS run_id,
    multiIf(f.span_seen, f.span_status, st.run_id IS NOT NULL, 'stalled', 'running') AS status,
    {", ".join(f"f.{c} AS {c}" for c in _FILTERED)}, coalesce(f.started_at, first.started_at) AS started_at
FROM (
    SELECT run_id, {facts}, countIf(source = 'span') > 0 AS span_seen,
        anyIf(status, source = 'span') AS span_status
    FROM (
        SELECT *, tuple(source = 'span', coalesce(heartbeat_at, {_ZERO_TIME})) AS prio FROM otel_ch_run_facts
    )
    GROUP BY run_id
) AS f
LEFT JOIN ({STALLS}) AS st ON st.run_id = f.run_id
LEFT JOIN (
    SELECT run_id,
        min(started_at) AS started_at FROM otel_ch_steps WHERE run_id IN ({undated}) GROUP BY run_id
) AS first ON first.run_id = f.run_id"""
