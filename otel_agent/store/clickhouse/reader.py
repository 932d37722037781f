"""The ClickHouse store's reads: runs, failures, stalls and the usage report, shaped as the SQL store's
(otel_agent.store.queries, otel_agent.store.report), with ClickHouse doing the aggregation.

Percentiles are exact nearest-rank, as PostgreSQL's ``percentile_disc`` and ``report.percentile``:
``quantilesExact(level)`` takes the value at 0-based position floor(level * n), nearest rank is
ceil(fraction * n) - 1, and the two agree for ``level = fraction - 1e-12`` while n < 10^10.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from otel_agent.store import queries
from otel_agent.store.clickhouse import views
from otel_agent.store.clickhouse.client import Client, literal, one_of, parse_time
from otel_agent.store.report import _shape

_TIMES = ("started_at", "ended_at", "last_heartbeat_at", "occurred_at", "resolved_at", "last_seen_at")
_FLAGS = ("span_seen", "resolved")
_LEVELS = "quantilesExact(0.5 - 1e-12, 0.95 - 1e-12)"
_TREE = ("input_tokens", "output_tokens", "cost_usd", "llm_calls")


def _python(row: dict[str, Any]) -> dict[str, Any]:
    for name in _TIMES:
        if name in row:
            row[name] = parse_time(row[name])
    for name in _FLAGS:
        if name in row:
            row[name] = bool(row[name])
    if isinstance(row.get("tags"), str):
        row["tags"] = json.loads(row["tags"])
    return row


def _workspace(where: queries.RunFilter) -> str | None:
    """The filter's workspace rule (the API's counts runs without a workspace as "default"'s)."""
    if where.workspace is None:
        return None
    rule = str(where.workspace_condition(sa.column("workspace")).compile())
    unset = " OR workspace IS NULL" if "IS NULL" in rule else ""
    return f"(workspace = {literal(where.workspace)}{unset})"


def conditions(where: queries.RunFilter) -> str:
    """A RunFilter as a WHERE clause over runs (views.runs)."""
    found = [
        f"{column} = {literal(value)}"
        for column, value in (
            ("project", where.project),
            ("stage", where.stage),
            ("agent_role", where.agent_role),
            ("status", where.status),
            ("user_id", where.user_id),
        )
        if value is not None
    ]
    if (workspace := _workspace(where)) is not None:
        found.append(workspace)
    if where.since is not None:
        found.append(f"started_at >= {literal(where.since)}")
    return " AND ".join(found) or "1"


class ClickHouseReader:
    def __init__(self, client: Client) -> None:
        self.client = client

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        return [_python(row) for row in self.client.rows(sql)]

    def list_runs(self, where: queries.RunFilter) -> list[dict[str, Any]]:
        rows = self._rows(f"""
SELECT * FROM ({views.runs()}) WHERE {conditions(where)}
ORDER BY started_at DESC NULLS LAST, run_id LIMIT {int(where.limit)}""")
        trees = self.tree_totals([r["run_id"] for r in rows if r["root_run_id"] == r["run_id"]])
        for row in rows:
            row.update(trees.get(row["run_id"], {f"tree_{n}": None for n in _TREE}))
        return rows

    def tree_totals(self, root_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not root_ids:
            return {}
        ids = one_of(root_ids)
        below = (
            f"run_id IN (SELECT run_id FROM otel_ch_run_facts WHERE run_id IN {ids} OR root_run_id IN {ids})"
        )
        sums = ", ".join(f"sum({n}) AS tree_{n}" for n in _TREE)
        rows = self.client.rows(f"""
SELECT root_run_id,
    {sums} FROM ({views.runs(below, below)}) WHERE root_run_id IN {ids} GROUP BY root_run_id""")
        return {row.pop("root_run_id"): row for row in rows}

    def list_failures(
        self,
        run_id: str | None = None,
        category: str | None = None,
        open_only: bool = False,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        found = ["1"]
        if run_id:
            found.append(f"run_id = {literal(run_id)}")
        if category:
            found.append(f"error_category = {literal(category)}")
        if since is not None:
            found.append(f"occurred_at >= {literal(since)}")
        only_open = "WHERE NOT resolved" if open_only else ""
        return self._rows(f"""
SELECT * FROM ({views.failures(" AND ".join(found))}) {only_open}
ORDER BY occurred_at DESC NULLS LAST, failure_id LIMIT {int(limit)}""")

    def stalled_runs(self, include_running: bool, limit: int = 100) -> list[dict[str, Any]]:
        statuses = ["stalled", "running"] if include_running else ["stalled"]
        return self._rows(f"""
SELECT *, coalesce(last_heartbeat_at, started_at) AS last_seen_at FROM ({views.runs()})
WHERE status IN {one_of(statuses)} ORDER BY last_seen_at, run_id LIMIT {int(limit)}""")

    def usage_report(self, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
        grouping = queries.report_grouping(by)
        sql = _by_call(where, grouping) if grouping.per == "calls" else _by_run(where, grouping)
        groups = [_shape(_untimed(row), grouping.per) for row in self.client.rows(sql)]
        return sorted(groups, key=lambda g: str(g["group"]))


def _untimed(row: dict[str, Any]) -> dict[str, Any]:
    """quantilesExact over no values gives 0s; the report says None, as the SQL store does."""
    if not row.pop("timed"):
        row["p"] = None
    return row


_SUMS = "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd"


def _by_run(where: queries.RunFilter, grouping: queries.ReportGrouping) -> str:
    group = (
        grouping.column or f"JSONExtract(coalesce(tags, '{{}}'), {literal(grouping.tag)}, 'Nullable(String)')"
    )
    return f"""
SELECT {group} AS group, count() AS runs, countIf(status != 'running') AS ended,
    countIf(status = 'succeeded') AS succeeded, count() AS calls, {_LEVELS}(duration_ms / 1000) AS p,
    count(duration_ms) AS timed, {_SUMS}
FROM ({views.runs()}) WHERE {conditions(where)} GROUP BY group"""


def _by_call(where: queries.RunFilter, grouping: queries.ReportGrouping) -> str:
    """Every LLM call of the selected runs, aggregated where it lies, in two levels: per (group, run)
    first (counts, sums, and the percentiles' partial states), then those few rows meet their run's
    status and filter and merge per group. A call starts no earlier than its run, so the window's start
    also bounds the calls read (and prunes the steps' monthly partitions)."""
    group = views.MODEL if grouping.column == "model" else "provider"
    window = f"AND started_at >= {literal(where.since)}" if where.since is not None else ""
    sums = ("input_tokens", "output_tokens", "cost_usd")
    return f"""
SELECT c.group AS group, count() AS runs, countIf(r.status != 'running') AS ended,
    countIf(r.status = 'succeeded') AS succeeded, sum(c.calls) AS calls,
    {_LEVELS.replace("quantilesExact", "quantilesExactMerge")}(c.q) AS p, sum(c.timed) AS timed,
    {", ".join(f"sum(c.{n}) AS {n}" for n in sums)}
FROM (
    SELECT {group} AS group, run_id, count() AS calls,
        {_LEVELS.replace("quantilesExact", "quantilesExactState")}(
        duration_ms / 1000) AS q, count(duration_ms) AS timed, {", ".join(f"sum({n}) AS {n}" for n in sums)}
    FROM otel_ch_steps FINAL WHERE kind = 'llm' AND run_id IS NOT NULL {window}
    GROUP BY group, run_id
) AS c
INNER JOIN (SELECT run_id, status FROM ({views.run_status()}) WHERE {conditions(where)}) AS r
    ON r.run_id = c.run_id
GROUP BY c.group"""
