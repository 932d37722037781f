"""The usage and cost report, aggregated where the rows are.

``otel-agent report`` (otel_agent.cli.report) fetches the window's rows and aggregates them in Python:
fine for a terminal, too slow for an API over a million steps (seconds for a 30-day window). On
PostgreSQL this module computes the same figures in one GROUP BY, with ``percentile_disc``, which is
exactly the CLI's nearest-rank percentile; tests/test_api_report.py checks the two agree on the same
rows. Other databases (SQLite has no ordered-set aggregates) use the CLI's own code unchanged.

By provider or model every LLM call of the window is read, so the statement is shaped for that: the
calls are gathered once (a CTE), both percentiles come from one sort (``percentile_disc`` over an
array of fractions), and runs are counted from one (group, run) row each instead of three
``count(DISTINCT ...)`` sorts. docs/benchmarks.md ("Operator API") has the figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from otel_agent.api.scope import run_in
from otel_agent.cli import report as cli_report
from otel_agent.store import queries
from otel_agent.store.engine import is_postgres
from otel_agent.store.models import RUN_STATUS_RUNNING, RUN_STATUS_SUCCEEDED, runs, steps


@dataclass(frozen=True)
class WorkspaceRunFilter(queries.RunFilter):
    """The CLI's run filter with the API's workspace rule (runs without one are "default"'s)."""

    def where(self) -> list[Any]:
        assert self.workspace is not None, "the API always scopes to a workspace"
        unscoped = queries.RunFilter.where(dataclasses.replace(self, workspace=None))
        return [*unscoped, run_in(self.workspace)]


def usage_report(conn: sa.Connection, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
    """Rows shaped like `otel-agent report --json`, for the runs that `where` selects."""
    grouping = queries.report_grouping(by)
    if not is_postgres(conn):
        fetch = queries.report_calls if grouping.per == "calls" else queries.report_runs
        return cli_report.aggregate(fetch(conn, where), grouping.key, grouping.per)
    conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))  # the call report's sort stays in memory
    query = _by_call(where, grouping) if grouping.per == "calls" else _by_run(where, grouping)
    groups = [_shape(row, grouping.per) for row in conn.execute(query).mappings()]
    return sorted(groups, key=lambda g: str(g["group"]))


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
        )
        .where(*where.where())
        .group_by(group)
    )


def _by_call(where: queries.RunFilter, grouping: queries.ReportGrouping) -> sa.Select[Any]:
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
        )
        .select_from(steps.join(runs, runs.c.run_id == s.run_id))
        .where(s.kind == "llm", *where.where())
        .cte("calls")
    )
    per_call = (
        sa.select(calls.c.group, sa.func.count().label("calls"), _percentiles(calls.c.seconds), *_sums(calls))
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
        "cost_usd": round(float(row["cost_usd"]), 6),
    }
    if per == "calls":
        summary["calls"] = row["calls"]
    return summary
