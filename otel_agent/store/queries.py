"""Read and delete queries over the store, shared by the CLI (and anyone else who wants them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from otel_agent.store.models import RUN_STATUS_RUNNING, RUN_STATUS_STALLED, failures, runs, steps
from otel_agent.store.sqlparts import one_of

RUN_COLUMNS = ("project", "stage", "agent_role", "status", "user_id", "workspace", "trigger_type")
# A report's --by / ?by= value -> the column it groups on: per run, or per LLM call (provider, model).
RUN_GROUPS = {
    "project": "project", "stage": "stage", "role": "agent_role", "status": "status", "user": "user_id",
    "workspace": "workspace", "trigger": "trigger_type",
}  # fmt: skip
CALL_GROUPS = {"provider": "provider", "model": "model"}


@dataclass(frozen=True)
class ReportGrouping:
    """How a report groups its rows; the CLI and the operator API both read ``by`` through this."""

    per: str  # "runs" (one row per run) or "calls" (one row per LLM call)
    column: str | None  # the row's column; None when grouping by a run tag
    tag: str | None = None

    def key(self, row: Mapping[str, Any]) -> Any:
        """The group a row of ``report_runs`` / ``report_calls`` belongs to."""
        if self.column is not None:
            return row.get(self.column)
        return (row.get("tags") or {}).get(self.tag)


REPORT_BY_CHOICES = (*RUN_GROUPS, *CALL_GROUPS, "tag:NAME")


def report_grouping(by: str) -> ReportGrouping:
    """A run column or alias, ``provider`` / ``model``, or a run tag (``tag:NAME``); ValueError naming the
    valid values otherwise (a misspelt column used to read as a tag and group everything under ``-``)."""
    if by in CALL_GROUPS:
        return ReportGrouping("calls", CALL_GROUPS[by])
    if by in RUN_GROUPS:
        return ReportGrouping("runs", RUN_GROUPS[by])
    tag = by.removeprefix("tag:")
    if by.startswith("tag:") and tag:
        return ReportGrouping("runs", None, tag)
    raise ValueError(f"unknown --by value {by!r}: use one of {', '.join(REPORT_BY_CHOICES)}")


@dataclass(frozen=True)
class RunFilter:
    project: str | None = None
    stage: str | None = None
    agent_role: str | None = None
    status: str | None = None
    user_id: str | None = None
    workspace: str | None = None
    since: datetime | None = None
    limit: int = 50

    def where(self) -> list[Any]:
        r = runs.c
        conditions = [r[name] == value for name, value in self._equalities().items() if value is not None]
        if self.workspace is not None:
            conditions.append(self.workspace_condition(r.workspace))
        if self.since is not None:
            conditions.append(r.started_at >= self.since)
        return conditions

    def workspace_condition(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """Rows of this filter's workspace, for any table with a workspace column (runs, roll-ups)."""
        return sa.true() if self.workspace is None else column == self.workspace

    def narrower_than_workspace(self) -> bool:
        """Does it select on anything besides workspace and time?"""
        return any(value is not None for value in self._equalities().values())

    def _equalities(self) -> Mapping[str, str | None]:
        return {
            "project": self.project,
            "stage": self.stage,
            "agent_role": self.agent_role,
            "status": self.status,
            "user_id": self.user_id,
        }


def list_runs(conn: sa.Connection, where: RunFilter) -> list[dict[str, Any]]:
    """Newest first (runs not started yet, known only from their steps, sort last). Top-level runs also
    get ``tree_*`` totals: their own plus every nested run's (a run's own totals cover its own steps)."""
    query = sa.select(runs).where(*where.where())
    query = query.order_by(runs.c.started_at.desc().nulls_last(), runs.c.run_id).limit(where.limit)
    rows = [dict(row) for row in conn.execute(query).mappings()]
    trees = tree_totals(conn, [r["run_id"] for r in rows if r["root_run_id"] == r["run_id"]])
    for row in rows:
        row.update(trees.get(row["run_id"], dict.fromkeys(_TREE_FIELDS)))
    return rows


_TREE_FIELDS = (
    "tree_input_tokens", "tree_output_tokens", "tree_cost_usd", "tree_llm_calls", "tree_unpriced_calls"
)  # fmt: skip


def tree_totals(conn: sa.Connection, root_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Totals over every run under each root (the root included)."""
    if not root_ids:
        return {}
    r = runs.c
    query = (
        sa.select(r.root_run_id, *[sa.func.sum(r[f.removeprefix("tree_")]) for f in _TREE_FIELDS])
        .where(r.root_run_id.in_(root_ids))
        .group_by(r.root_run_id)
    )
    return {root: dict(zip(_TREE_FIELDS, sums, strict=True)) for root, *sums in conn.execute(query)}


def list_failures(
    conn: sa.Connection,
    run_id: str | None = None,
    category: str | None = None,
    open_only: bool = False,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    f = failures.c
    query = sa.select(failures)
    if run_id:
        query = query.where(f.run_id == run_id)
    if category:
        query = query.where(f.error_category == category)
    if open_only:
        query = query.where(f.resolved.is_(False))
    if since is not None:
        query = query.where(f.occurred_at >= since)
    query = query.order_by(f.occurred_at.desc().nulls_last(), f.failure_id).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def stalled_runs(conn: sa.Connection, include_running: bool, limit: int = 100) -> list[dict[str, Any]]:
    statuses = [RUN_STATUS_STALLED, RUN_STATUS_RUNNING] if include_running else [RUN_STATUS_STALLED]
    r = runs.c
    last_seen = sa.func.coalesce(r.last_heartbeat_at, r.started_at, r.updated_at)
    query = sa.select(runs, last_seen.label("last_seen_at")).where(r.status.in_(statuses))
    return [dict(row) for row in conn.execute(query.order_by(last_seen, r.run_id).limit(limit)).mappings()]


def report_runs(conn: sa.Connection, where: RunFilter) -> list[dict[str, Any]]:
    """The runs a report aggregates: the filter's window, every run (no limit)."""
    r = runs.c
    columns = [r.run_id, r.status, r.duration_ms, r.input_tokens, r.output_tokens, r.cost_usd, r.tags]
    columns.append(r.unpriced_calls)
    query = sa.select(*columns, *[r[name] for name in RUN_COLUMNS if name != "status"]).where(*where.where())
    return [dict(row) for row in conn.execute(query).mappings()]


def report_calls(conn: sa.Connection, where: RunFilter) -> list[dict[str, Any]]:
    """LLM calls of the filtered runs, with their run's status: for reports by provider or model."""
    s = steps.c
    query = (
        sa.select(
            s.run_id,
            runs.c.status,
            s.duration_ms,
            s.input_tokens,
            s.output_tokens,
            s.cost_usd,
            s.price_source,
            s.retry_attempt,
            s.provider,
            sa.func.coalesce(s.response_model, s.request_model).label("model"),
        )
        .join(runs, runs.c.run_id == s.run_id)
        .where(s.kind == "llm", s.duplicate_of.is_(None), *where.where())
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def user_runs(user_id: str, *scope: sa.ColumnElement[bool]) -> sa.CTE:
    """Run ids of everything a user ran: the runs that name them, every run nested under one (foreign
    SDKs put ``user.id`` on the outermost run only) and every run sharing a root with one."""
    r = runs.c
    theirs = sa.select(r.run_id).where(r.user_id == user_id, *scope)
    anchor = sa.select(r.run_id).where(sa.or_(r.run_id.in_(theirs), r.root_run_id.in_(theirs)))
    tree = anchor.cte("user_runs", recursive=True)
    below = sa.select(r.run_id).join(tree, r.parent_run_id == tree.c.run_id)
    return tree.union(below)  # UNION, not UNION ALL: a parent loop in bad data ends


def purge_runs(
    conn: sa.Connection, doomed: sa.CTE, steps_too: Any = None, failures_too: Any = None
) -> dict[str, int]:
    """Delete the runs ``doomed`` selects, their steps and failures, the not-yet-linked steps and failures
    of their traces (a span whose run had not arrived), and any rows the extra conditions name."""
    # Read the ids first: drivers report no row count for a DELETE that starts WITH (SQLite's gives -1).
    run_ids = list(conn.execute(sa.select(doomed.c.run_id)).scalars())
    trace_ids = sorted(
        set(conn.execute(sa.select(runs.c.trace_id).where(one_of(conn, runs.c.run_id, run_ids))).scalars())
    )
    s, f = steps.c, failures.c
    steps_too = sa.false() if steps_too is None else steps_too
    failures_too = sa.false() if failures_too is None else failures_too
    step_cond = sa.or_(
        one_of(conn, s.run_id, run_ids),
        sa.and_(s.run_id.is_(None), one_of(conn, s.trace_id, trace_ids)),
        steps_too,
    )
    failure_cond = sa.or_(
        one_of(conn, f.run_id, run_ids),
        sa.and_(f.run_id.is_(None), one_of(conn, f.trace_id, trace_ids)),
        failures_too,
    )
    return {
        "failures": conn.execute(failures.delete().where(failure_cond)).rowcount,
        "steps": conn.execute(steps.delete().where(step_cond)).rowcount,
        "runs": conn.execute(runs.delete().where(one_of(conn, runs.c.run_id, run_ids))).rowcount,
    }


def purge(conn: sa.Connection, user_id: str | None = None, before: datetime | None = None) -> dict[str, int]:
    """Delete everything of one user's runs (``user_runs``) and any step or failure naming them, or
    everything that started before ``before``. Every workspace (the API's purge is scoped to one)."""
    if (user_id is None) == (before is None):
        raise ValueError("purge needs exactly one of user_id and before")
    if user_id is not None:
        return purge_runs(conn, user_runs(user_id), steps.c.user_id == user_id, failures.c.user_id == user_id)
    old = sa.select(runs.c.run_id).where(runs.c.started_at < before).cte("old_runs")
    return purge_runs(conn, old, steps.c.started_at < before, failures.c.occurred_at < before)
