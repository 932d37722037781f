"""Run totals recomputed from their steps, and failures resolved when their run ends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from otel_agent.store.models import RUN_STATUS_SUCCEEDED, TERMINAL_RUN_STATUSES, failures, runs, steps
from otel_agent.store.sqlparts import one_of, pg_ids

_CHUNK = 500
COST_DECIMALS = 10  # 1e-10 USD
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "reasoning_tokens")


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(ids)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _flag(condition: Any) -> Any:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _sums_query(conn: sa.Connection, chunk: list[str]) -> sa.Select[Any]:
    s = steps.c
    counted = s.duplicate_of.is_(None)  # another span of the same exchange is the counted one
    llm = sa.and_(s.kind == "llm", counted)
    # An SDK's retry (attempt 1, 2, ...) is the same call again: its tokens and cost count, the call once.
    new_call = sa.and_(llm, sa.func.coalesce(s.retry_attempt, 0) <= 0)
    # Unpriced (processors.rollup.is_unpriced): usage but no price, or a call that succeeded without
    # saying its usage; a failed attempt without usage cost nothing and is not unpriced.
    unpriced = sa.and_(
        llm, sa.or_(s.price_source == "unpriced", sa.and_(s.cost_usd.is_(None), s.status != "error"))
    )
    return (
        sa.select(
            s.run_id,
            *[sa.func.coalesce(sa.func.sum(s[name]).filter(counted), 0).label(name) for name in _TOKENS],
            sa.func.coalesce(sa.func.sum(s.cost_usd).filter(counted), 0.0).label("cost_usd"),
            sa.func.coalesce(sa.func.sum(s.cost_credits).filter(counted), 0.0).label("cost_credits"),
            _flag(new_call).label("llm_calls"),
            _flag(s.kind == "tool").label("tool_calls"),
            _flag(sa.and_(s.status == "error", counted)).label("error_count"),
            _flag(unpriced).label("unpriced_calls"),
            sa.func.min(s.started_at).label("first_step_at"),
            sa.func.max(s.ended_at).label("last_step_at"),
        )
        .where(one_of(conn, s.run_id, chunk))
        .group_by(s.run_id)
    )


def _used(conn: sa.Connection, chunk: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    s = steps.c
    model = sa.func.coalesce(s.response_model, s.request_model)
    query = (
        sa.select(s.run_id, s.provider, model)
        .where(one_of(conn, s.run_id, chunk), s.kind == "llm", s.duplicate_of.is_(None))
        .distinct()
    )
    models: dict[str, set[str]] = defaultdict(set)
    providers: dict[str, set[str]] = defaultdict(set)
    for run_id, provider, name in conn.execute(query):
        if provider:
            providers[run_id].add(provider)
        if name:
            models[run_id].add(name)
    return {r: (sorted(models[r]), sorted(providers[r])) for r in set(models) | set(providers)}


def _empty_totals(run_id: str) -> dict[str, Any]:
    return {
        "b_run": run_id,
        **dict.fromkeys(_TOKENS, 0),
        "cost_usd": 0.0,
        "cost_credits": 0.0,
        **dict.fromkeys(("llm_calls", "tool_calls", "error_count", "unpriced_calls"), 0),
        "first_step_at": None,
        "last_step_at": None,
        "models": None,
        "providers": None,
    }


# PostgreSQL: the same recomputation as one statement (a round trip saved per query). Costs are summed
# as numeric, exactly, then rounded like the Python path, so both give the same figure in any order.
_PG_RECOMPUTE = sa.text("""
UPDATE otel_runs SET
    input_tokens = s.input_tokens, output_tokens = s.output_tokens, cache_read_tokens = s.cache_read_tokens,
    cache_creation_tokens = s.cache_creation_tokens, reasoning_tokens = s.reasoning_tokens,
    cost_usd = s.cost_usd, cost_credits = s.cost_credits,
    llm_calls = s.llm_calls, tool_calls = s.tool_calls, error_count = s.error_count,
    unpriced_calls = s.unpriced_calls, models = s.models, providers = s.providers,
    started_at = coalesce(otel_runs.started_at, s.first_step_at),
    last_heartbeat_at = greatest(otel_runs.last_heartbeat_at, s.last_step_at),
    updated_at = now()  -- new steps change the run's figures: the LLM-call roll-up sees it (call_rollup.py)
FROM (
    SELECT run_id,
        coalesce(sum(input_tokens) FILTER (WHERE duplicate_of IS NULL), 0) AS input_tokens,
        coalesce(sum(output_tokens) FILTER (WHERE duplicate_of IS NULL), 0) AS output_tokens,
        coalesce(sum(cache_read_tokens) FILTER (WHERE duplicate_of IS NULL), 0) AS cache_read_tokens,
        coalesce(sum(cache_creation_tokens) FILTER (WHERE duplicate_of IS NULL), 0) AS cache_creation_tokens,
        coalesce(sum(reasoning_tokens) FILTER (WHERE duplicate_of IS NULL), 0) AS reasoning_tokens,
        coalesce(round(sum(cost_usd::numeric) FILTER (WHERE duplicate_of IS NULL), :decimals)::float8, 0)
            AS cost_usd,
        coalesce(round(sum(cost_credits::numeric) FILTER (WHERE duplicate_of IS NULL), :decimals)::float8, 0)
            AS cost_credits,
        count(*) FILTER (WHERE kind = 'llm' AND duplicate_of IS NULL AND coalesce(retry_attempt, 0) <= 0)
            AS llm_calls,
        count(*) FILTER (WHERE kind = 'tool') AS tool_calls,
        count(*) FILTER (WHERE status = 'error' AND duplicate_of IS NULL) AS error_count,
        count(*) FILTER (WHERE kind = 'llm' AND duplicate_of IS NULL
                         AND (price_source = 'unpriced' OR (cost_usd IS NULL AND status <> 'error')))
            AS unpriced_calls,
        jsonb_agg(DISTINCT coalesce(response_model, request_model)
                  ORDER BY coalesce(response_model, request_model))
            FILTER (WHERE kind = 'llm' AND duplicate_of IS NULL
                    AND coalesce(response_model, request_model) IS NOT NULL) AS models,
        jsonb_agg(DISTINCT provider ORDER BY provider)
            FILTER (WHERE kind = 'llm' AND duplicate_of IS NULL AND provider IS NOT NULL) AS providers,
        min(started_at) AS first_step_at, max(ended_at) AS last_step_at
    FROM otel_steps WHERE run_id IN (SELECT unnest(CAST(:ids AS varchar[]))) GROUP BY run_id
) AS s
WHERE otel_runs.run_id = s.run_id
""")


def recompute_totals(conn: sa.Connection, run_ids: set[str]) -> None:
    """Set each run's totals to the sums over its steps (runs without steps keep their zeros)."""
    if conn.dialect.name == "postgresql":
        for chunk in _chunks(run_ids):
            conn.execute(_PG_RECOMPUTE, {"ids": pg_ids(chunk), "decimals": COST_DECIMALS})
        return
    for chunk in _chunks(run_ids):
        totals = {r: _empty_totals(r) for r in chunk}
        for row in conn.execute(_sums_query(conn, chunk)).mappings():
            totals[row["run_id"]].update({k: v for k, v in row.items() if k != "run_id"})
            # Float sums depend on row order; rounding keeps totals identical however spans arrived.
            totals[row["run_id"]]["cost_usd"] = round(float(row["cost_usd"]), COST_DECIMALS)
            totals[row["run_id"]]["cost_credits"] = round(float(row["cost_credits"]), COST_DECIMALS)
        for run_id, (models, providers) in _used(conn, chunk).items():
            totals[run_id].update(models=models or None, providers=providers or None)
        _write_totals(conn, list(totals.values()))


def _write_totals(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    values: dict[str, Any] = {name: sa.bindparam(name) for name in _TOKENS}
    for name in (
        "cost_usd",
        "cost_credits",
        "llm_calls",
        "tool_calls",
        "error_count",
        "unpriced_calls",
        "models",
        "providers",
    ):
        values[name] = sa.bindparam(name, type_=runs.c[name].type)
    # A run known only from its steps starts at its first step, until its own span or marker says.
    values["started_at"] = sa.func.coalesce(
        runs.c.started_at, sa.bindparam("first_step_at", type_=runs.c.started_at.type)
    )
    # A finished step is a sign of life too: runs without markers (other languages) stall only when
    # their steps stop, not a fixed time after they began.
    last_step = sa.bindparam("last_step_at", type_=runs.c.last_heartbeat_at.type)
    values["last_heartbeat_at"] = sa.case(
        (runs.c.last_heartbeat_at.is_(None), last_step),
        (last_step > runs.c.last_heartbeat_at, last_step),
        else_=runs.c.last_heartbeat_at,
    )
    conn.execute(runs.update().where(runs.c.run_id == sa.bindparam("b_run")).values(values), rows)


def resolve_failures(conn: sa.Connection, run_ids: set[str]) -> None:
    """A run that ended closes its stall failure; a run that succeeded also closes its steps' failures
    (they were retried or handled). resolved_at is the run's end."""
    f = failures.c
    ended_at = sa.select(runs.c.ended_at).where(runs.c.run_id == f.run_id).scalar_subquery()
    for chunk in _chunks(run_ids):
        ended = sa.select(runs.c.run_id).where(
            one_of(conn, runs.c.run_id, chunk), runs.c.status.in_(TERMINAL_RUN_STATUSES)
        )
        succeeded = sa.select(runs.c.run_id).where(
            one_of(conn, runs.c.run_id, chunk), runs.c.status == RUN_STATUS_SUCCEEDED
        )
        open_ = failures.update().where(f.resolved.is_(False)).values(resolved=True, resolved_at=ended_at)
        conn.execute(open_.where(f.run_id.in_(ended), sa.or_(f.source == "stall", f.run_id.in_(succeeded))))
