"""The usage and cost report (`otel-agent report`, GET /api/v1/report): runs, success rate, p50/p95
latency, tokens and cost per group, over the runs a ``RunFilter`` selects. One implementation for both.

``by`` is read by ``queries.report_grouping``. On PostgreSQL the figures are computed where the rows
are, in one GROUP BY, with ``percentile_disc``, which is exactly the nearest-rank ``percentile`` below;
other databases (SQLite has no ordered-set aggregates) fetch the rows and ``aggregate`` them in Python.
tests/test_api_report.py and tests/test_api_report_calls.py check the two agree on the same rows.

By provider or model, a window selected by workspace and time alone is read from the LLM-call roll-up
(otel_agent.store.call_report: same figures, exact, without reading every call). Otherwise every LLM
call of the window is read by ``every_call_statement``, shaped for that: the calls are gathered once (a
CTE), both percentiles come from one sort (``percentile_disc`` over an array of fractions), and runs are
counted from one (group, run) row each instead of three ``count(DISTINCT ...)`` sorts.
docs/benchmarks.md ("Operator API") has the figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from otel_agent.store import call_report, call_rollup, queries
from otel_agent.store.engine import is_postgres
from otel_agent.store.models import RUN_STATUS_RUNNING, RUN_STATUS_SUCCEEDED, runs, steps

UNPRICED = "unpriced"  # the price source of a call whose model has no known price


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a real observation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def aggregate(
    rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any], per: str
) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return [
        _summary(group, members, per) for group, members in sorted(groups.items(), key=lambda g: str(g[0]))
    ]


def _summary(group: Any, members: list[dict[str, Any]], per: str) -> dict[str, Any]:
    statuses = {m["run_id"]: m["status"] for m in members}
    ended = [s for s in statuses.values() if s != "running"]
    durations = [m["duration_ms"] / 1000 for m in members if m.get("duration_ms") is not None]
    p50, p95 = percentile(durations, 0.5), percentile(durations, 0.95)
    summary = {
        "group": group,
        "runs": len(statuses),
        "success_rate": round(100 * ended.count("succeeded") / len(ended), 1) if ended else None,
        "p50_s": round(p50, 3) if p50 is not None else None,
        "p95_s": round(p95, 3) if p95 is not None else None,
        "input_tokens": sum(m["input_tokens"] or 0 for m in members),
        "output_tokens": sum(m["output_tokens"] or 0 for m in members),
        "cost_usd": round(sum(m["cost_usd"] or 0.0 for m in members), 10),
        "unpriced_calls": sum(_unpriced(m, per) for m in members),
    }
    if per == "calls":  # an SDK's retry is the same call again (docs/counting.md)
        summary["calls"] = sum(1 for m in members if (m.get("retry_attempt") or 0) <= 0)
    return summary


def _unpriced(member: dict[str, Any], per: str) -> int:
    if per == "calls":
        return int(member.get("price_source") == UNPRICED)
    return int(member.get("unpriced_calls") or 0)


def usage_report(conn: sa.Connection, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
    """Rows shaped like `otel-agent report --json`, for the runs that `where` selects."""
    grouping = queries.report_grouping(by)
    if not is_postgres(conn):
        fetch = queries.report_calls if grouping.per == "calls" else queries.report_runs
        return aggregate(fetch(conn, where), grouping.key, grouping.per)
    # The call report's sort stays in memory; JIT compiling this one-off plan costs more (15-25 ms) than
    # it saves.
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
    rows: Iterable[Any] | None = None
    if grouping.per == "calls" and grouping.column and call_report.usable(where):
        rows = call_report.report_rows(conn, where, grouping.column)
    if rows is None:
        query = every_call_statement(where, grouping) if grouping.per == "calls" else _by_run(where, grouping)
        rows = conn.execute(query).mappings()
    groups = [_shape(row, grouping.per) for row in rows]
    if grouping.per == "calls":
        unpriced = unpriced_by_group(conn, where, grouping)
        for group in groups:
            group["unpriced_calls"] = unpriced.get(group["group"], 0)
    return sorted(groups, key=lambda g: str(g["group"]))


def unpriced_by_group(
    conn: sa.Connection, where: queries.RunFilter, grouping: queries.ReportGrouping
) -> dict[Any, int]:
    """Unpriced LLM calls per provider or model, read from the runs that count any (few, usually)."""
    s = steps.c
    group = sa.func.coalesce(s.response_model, s.request_model) if grouping.column == "model" else s.provider
    priced_out = sa.select(runs.c.run_id).where(runs.c.unpriced_calls > 0, *where.where())
    query = (
        sa.select(group.label("group"), sa.func.count())
        .where(s.kind == "llm", s.price_source == UNPRICED, s.run_id.in_(priced_out))
        .group_by(group)
    )
    return {value: int(count) for value, count in conn.execute(query)}


_FRACTIONS = postgresql.array([0.5, 0.95], type_=sa.Float)


def _percentiles(seconds: sa.ColumnElement[Any]) -> sa.Label[Any]:
    """p50 and p95 from one sort (both fractions in one ordered-set aggregate)."""
    return sa.func.percentile_disc(_FRACTIONS).within_group(seconds).label("p")


def _sums(source: Any) -> list[sa.Label[Any]]:
    return [
        sa.func.coalesce(sa.func.sum(source.c.input_tokens), 0).label("input_tokens"),
        sa.func.coalesce(sa.func.sum(source.c.output_tokens), 0).label("output_tokens"),
        sa.func.coalesce(sa.func.sum(source.c.cost_usd), 0.0).label("cost_usd"),
    ]


def _run_unpriced() -> list[sa.Label[Any]]:
    return [sa.func.coalesce(sa.func.sum(runs.c.unpriced_calls), 0).label("unpriced_calls")]


def _by_run(where: queries.RunFilter, grouping: queries.ReportGrouping) -> sa.Select[Any]:
    r = runs.c
    # JSONB -> the tag's JSON value, as the CLI reads it
    group = (r[grouping.column] if grouping.column else r.tags[grouping.tag]).label("group")
    ended, succeeded = r.status != RUN_STATUS_RUNNING, r.status == RUN_STATUS_SUCCEEDED
    return (
        sa.select(
            group,
            sa.func.count().label("runs"),
            sa.func.count().filter(ended).label("ended"),
            sa.func.count().filter(succeeded).label("succeeded"),
            sa.func.count().label("calls"),
            _percentiles(r.duration_ms / 1000.0),
            *_sums(runs),
            *_run_unpriced(),
        )
        .where(*where.where())
        .group_by(group)
    )


def every_call_statement(where: queries.RunFilter, grouping: queries.ReportGrouping) -> sa.Select[Any]:
    s = steps.c
    model = sa.func.coalesce(s.response_model, s.request_model)
    calls = (
        sa.select(
            (model if grouping.column == "model" else s.provider).label("group"),
            s.run_id,
            runs.c.status,
            (s.duration_ms / 1000.0).label("seconds"),
            s.input_tokens,
            s.output_tokens,
            s.cost_usd,
            s.retry_attempt,
        )
        .select_from(steps.join(runs, runs.c.run_id == s.run_id))
        .where(s.kind == "llm", s.duplicate_of.is_(None), *where.where())
        .cte("calls")
    )
    per_call = (
        sa.select(
            calls.c.group,
            sa.func.count().filter(call_rollup.first_attempt(calls.c.retry_attempt)).label("calls"),
            _percentiles(calls.c.seconds),
            *_sums(calls),
        )
        .group_by(calls.c.group)
        .subquery("per_call")
    )
    per_run = sa.select(calls.c.group, calls.c.status).group_by(calls.c.group, calls.c.run_id, calls.c.status)
    run_rows = per_run.subquery("per_run")
    ended, succeeded = run_rows.c.status != RUN_STATUS_RUNNING, run_rows.c.status == RUN_STATUS_SUCCEEDED
    run_counts = (
        sa.select(
            run_rows.c.group,
            sa.func.count().label("runs"),
            sa.func.count().filter(ended).label("ended"),
            sa.func.count().filter(succeeded).label("succeeded"),
        )
        .group_by(run_rows.c.group)
        .subquery("run_counts")
    )
    # NULL groups (calls without a model) must meet too: IS NOT DISTINCT FROM, not =.
    joined = per_call.join(run_counts, per_call.c.group.is_not_distinct_from(run_counts.c.group))
    counted = ("calls", "p", "input_tokens", "output_tokens", "cost_usd")
    return sa.select(
        per_call.c.group,
        *(run_counts.c[name] for name in ("runs", "ended", "succeeded")),
        *(per_call.c[name] for name in counted),
    ).select_from(joined)


def _shape(row: Any, per: str) -> dict[str, Any]:
    ended = row["ended"]
    p50, p95 = row["p"] or (None, None)
    summary = {
        "group": row["group"],
        "runs": row["runs"],
        "success_rate": round(100 * row["succeeded"] / ended, 1) if ended else None,
        "p50_s": round(p50, 3) if p50 is not None else None,
        "p95_s": round(p95, 3) if p95 is not None else None,
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "cost_usd": round(float(row["cost_usd"]), 10),
        "unpriced_calls": int(row.get("unpriced_calls") or 0),  # per call: filled in by usage_report
    }
    if per == "calls":
        summary["calls"] = row["calls"]
    return summary
