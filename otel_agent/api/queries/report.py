"""The usage and cost report, aggregated where the rows are.

``otel-agent report`` (otel_agent.cli.report) fetches the window's rows and aggregates them in Python:
fine for a terminal, too slow for an API over a million steps (seconds for a 30-day window). On
PostgreSQL this module computes the same figures in one GROUP BY, with ``percentile_disc``, which is
exactly the CLI's nearest-rank percentile; tests/test_api_report.py checks the two agree on the same
rows. Other databases (SQLite has no ordered-set aggregates) use the CLI's own code unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

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
    per, key = cli_report._key_function(by)  # the CLI's parsing of --by, reused as is
    if not is_postgres(conn):
        rows = queries.report_calls(conn, where) if per == "calls" else queries.report_runs(conn, where)
        return cli_report.aggregate(rows, key, per)
    groups = [_shape(row, per) for row in conn.execute(_grouped(where, by, per)).mappings()]
    return sorted(groups, key=lambda g: str(g["group"]))


def _group_column(by: str, per: str) -> sa.ColumnElement[Any]:
    if per == "calls":
        column = cli_report.CALL_GROUPS[by]
        return (
            sa.func.coalesce(steps.c.response_model, steps.c.request_model)
            if column == "model"
            else steps.c[column]
        )
    if by in cli_report.RUN_GROUPS:
        return runs.c[cli_report.RUN_GROUPS[by]]
    return runs.c.tags[by.removeprefix("tag:")]  # JSONB -> the tag's JSON value, as the CLI reads it


def _grouped(where: queries.RunFilter, by: str, per: str) -> sa.Select[Any]:
    source = steps if per == "calls" else runs
    seconds = source.c.duration_ms / 1000.0
    group = _group_column(by, per).label("group")
    query = sa.select(
        group,
        *_run_counts(per),
        sa.func.count().label("calls"),
        sa.func.percentile_disc(0.5).within_group(seconds).label("p50_s"),
        sa.func.percentile_disc(0.95).within_group(seconds).label("p95_s"),
        sa.func.coalesce(sa.func.sum(source.c.input_tokens), 0).label("input_tokens"),
        sa.func.coalesce(sa.func.sum(source.c.output_tokens), 0).label("output_tokens"),
        sa.func.coalesce(sa.func.sum(source.c.cost_usd), 0.0).label("cost_usd"),
    ).where(*where.where())
    if per == "calls":
        query = query.select_from(steps.join(runs, runs.c.run_id == steps.c.run_id)).where(
            steps.c.kind == "llm"
        )
    return query.group_by(group)


def _run_counts(per: str) -> list[sa.Label[Any]]:
    """Runs, ended runs and succeeded runs of a group: per call, each run counts once (DISTINCT)."""
    ended, succeeded = runs.c.status != RUN_STATUS_RUNNING, runs.c.status == RUN_STATUS_SUCCEEDED
    if per == "calls":
        return [
            sa.func.count(sa.distinct(steps.c.run_id)).label("runs"),
            sa.func.count(sa.distinct(sa.case((ended, steps.c.run_id)))).label("ended"),
            sa.func.count(sa.distinct(sa.case((succeeded, steps.c.run_id)))).label("succeeded"),
        ]
    # One row per run: plain counts, no DISTINCT sorts.
    return [
        sa.func.count().label("runs"),
        sa.func.count().filter(ended).label("ended"),
        sa.func.count().filter(succeeded).label("succeeded"),
    ]


def _shape(row: Any, per: str) -> dict[str, Any]:
    ended = row["ended"]
    summary = {
        "group": row["group"],
        "runs": row["runs"],
        "success_rate": round(100 * row["succeeded"] / ended, 1) if ended else None,
        "p50_s": round(row["p50_s"], 3) if row["p50_s"] is not None else None,
        "p95_s": round(row["p95_s"], 3) if row["p95_s"] is not None else None,
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "cost_usd": round(float(row["cost_usd"]), 6),
    }
    if per == "calls":
        summary["calls"] = row["calls"]
    return summary
