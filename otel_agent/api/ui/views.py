"""What each page shows, gathered by calling the API's own route functions and queries with the session's
principal: the page and GET /api/v1/... show the same rows, scoped the same way. No HTML here (the
templates draw it), so bench/bench_ui.py times exactly the data each page needs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from otel_agent.api.auth import Principal
from otel_agent.api.config import ApiConfig
from otel_agent.api.links import logs_url
from otel_agent.api.params import to_utc
from otel_agent.api.queries import runs as run_queries
from otel_agent.api.queries.failures import FailureFilter
from otel_agent.api.queries.report import WorkspaceRunFilter, usage_report
from otel_agent.api.routes import audit as audit_routes
from otel_agent.api.routes import failures as failure_routes
from otel_agent.api.routes import health as health_routes
from otel_agent.api.routes import runs as run_routes
from otel_agent.api.schemas import ReportRow as ReportRowOut
from otel_agent.api.schemas import RunDetail, RunOut
from otel_agent.api.ui import charts, cost_series, waterfall

RUN_STATUSES = ("running", "succeeded", "failed", "stalled", "cancelled")
FAILURE_STATES = ("open", "resolved", "all")
WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
COST_DAYS = (7, 14, 30, 90)
PAGE_SIZE = 50
MAX_NESTED_RUNS = 50  # a run page shows at most this many runs nested in it
MAX_TEXT = 200


class BadInput(ValueError):
    """A filter the page cannot use; shown above the page, never a server error."""


def text(value: str | None, name: str) -> str | None:
    """A free-text filter: blank means "any"; NUL (PostgreSQL refuses it) and very long values are refused."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "\x00" in value or len(value) > MAX_TEXT:
        raise BadInput(f"{name}: at most {MAX_TEXT} characters, without NUL")
    return value


def choice(value: str | None, allowed: tuple[str, ...], name: str, default: str | None = None) -> str | None:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise BadInput(f"{name} must be one of {', '.join(allowed)}")
    return value


def moment(value: str | None, name: str) -> datetime | None:
    """A datetime-local field (or ISO 8601); without an offset it is UTC, as everywhere in the API."""
    if value is None or not value.strip():
        return None
    try:
        return to_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise BadInput(f"{name}: not a date and time (YYYY-MM-DDTHH:MM, UTC)") from None


@dataclass(frozen=True, slots=True)
class RunFilters:
    project: str | None = None
    stage: str | None = None
    role: str | None = None
    status: str | None = None
    user: str | None = None
    within: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> RunFilters:
        return cls(
            project=text(query.get("project"), "project"),
            stage=text(query.get("stage"), "stage"),
            role=text(query.get("role"), "role"),
            status=choice(query.get("status"), RUN_STATUSES, "status"),
            user=text(query.get("user"), "user"),
            within=choice(query.get("within"), tuple(WINDOWS), "time"),
            since=moment(query.get("since"), "since"),
            until=moment(query.get("until"), "until"),
        )

    def window_start(self, now: datetime) -> datetime | None:
        starts = [t for t in (self.since, now - WINDOWS[self.within] if self.within else None) if t]
        return max(starts) if starts else None

    def as_query(self) -> dict[str, str]:
        """The filters as URL parameters (for the next page's link)."""
        return {
            k: (v.strftime("%Y-%m-%dT%H:%M") if isinstance(v, datetime) else v)
            for k, v in asdict(self).items()
            if v
        }


def health_page(engine: sa.Engine, caller: Principal, now: datetime) -> dict[str, Any]:
    """The four cards: today's failed runs, open failures by group, last trigger per workflow, audit."""
    card = health_routes.health(caller, engine)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    failed: list[RunOut] = []
    for status in ("failed", "stalled"):
        failed += run_routes.list_runs(caller, engine, status_=status, since=midnight, limit=10).items
    failed.sort(key=lambda r: r.started_at or midnight, reverse=True)
    groups = failure_routes.failure_groups(caller, engine, FailureFilter(), limit=5)
    return {"health": card, "failed_today": failed[:10], "groups": groups}


def runs_page(
    engine: sa.Engine, caller: Principal, filters: RunFilters, cursor: str | None, now: datetime
) -> dict[str, Any]:
    page = run_routes.list_runs(
        caller,
        engine,
        project=filters.project,
        stage=filters.stage,
        role=filters.role,
        status_=cast(Any, filters.status),
        user=filters.user,
        since=filters.window_start(now),
        until=filters.until,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    return {"page": page, "filters": filters}


def run_page(
    engine: sa.Engine, caller: Principal, config: ApiConfig, run_id: str, now: datetime
) -> dict[str, Any]:
    """The run (404 if it is not in this workspace), the runs nested in it, and its waterfall."""
    detail = run_routes.get_run(run_id, caller, engine, config)
    nested = _nested(engine, caller, config, detail)
    run = detail.run
    logs = logs_url(
        config.grafana_url, config.loki_uid, run.trace_id, run.service_name, run.started_at, run.ended_at
    )
    return {
        "detail": detail,
        "nested": nested,
        "totals": Totals.of([detail.run, *(d.run for d in nested.values())]),
        "failures": sorted(
            [*detail.failures, *(f for d in nested.values() for f in d.failures)],
            key=lambda f: (f.occurred_at is None, f.occurred_at),
        ),
        "waterfall": waterfall.build(detail, nested, now, _parent_spans(engine, caller, list(nested))),
        "logs_url": logs,
        "parent": run.parent_run_id,
    }


@dataclass(frozen=True, slots=True)
class Totals:
    """A run's figures with the runs nested in it (each run's own figures cover its own steps only)."""

    runs: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int
    llm_calls: int
    tool_calls: int
    error_count: int

    @classmethod
    def of(cls, runs: list[RunOut]) -> Totals:
        return cls(
            runs=len(runs),
            input_tokens=sum(r.input_tokens for r in runs),
            output_tokens=sum(r.output_tokens for r in runs),
            cost_usd=sum(r.cost_usd for r in runs),
            unpriced_calls=sum(r.unpriced_calls for r in runs),
            llm_calls=sum(r.llm_calls for r in runs),
            tool_calls=sum(r.tool_calls for r in runs),
            error_count=sum(r.error_count for r in runs),
        )


def _parent_spans(engine: sa.Engine, caller: Principal, run_ids: list[str]) -> dict[str, str | None]:
    """Which span each nested run started under (the API's run shape names only its parent run)."""
    found: dict[str, str | None] = {}
    with engine.connect() as conn:
        for run_id in run_ids:
            row = run_queries.get_run(conn, caller.workspace, run_id)
            if row is not None:
                found[run_id] = row.parent_span_id
    return found


def _nested(
    engine: sa.Engine, caller: Principal, config: ApiConfig, detail: RunDetail
) -> dict[str, RunDetail]:
    """Runs nested in this one at any depth, breadth first, at most MAX_NESTED_RUNS."""
    found: dict[str, RunDetail] = {}
    todo = deque(detail.child_run_ids)
    while todo and len(found) < MAX_NESTED_RUNS:
        run_id = todo.popleft()
        if run_id in found:
            continue
        child = run_routes.get_run(run_id, caller, engine, config)
        found[run_id] = child
        todo.extend(child.child_run_ids)
    return found


@dataclass(frozen=True, slots=True)
class FailureFilters:
    state: str = "open"
    category: str | None = None
    project: str | None = None
    stage: str | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> FailureFilters:
        return cls(
            state=choice(query.get("state"), FAILURE_STATES, "state", "open") or "open",
            category=text(query.get("category"), "category"),
            project=text(query.get("project"), "project"),
            stage=text(query.get("stage"), "stage"),
        )

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def failures_page(
    engine: sa.Engine, caller: Principal, filters: FailureFilters, cursor: str | None
) -> dict[str, Any]:
    where = FailureFilter(filters.state, filters.category, filters.project, filters.stage)
    groups = failure_routes.failure_groups(caller, engine, where, limit=PAGE_SIZE)
    page = failure_routes.list_failures(caller, engine, where, limit=PAGE_SIZE, cursor=cursor)
    return {"groups": groups, "page": page, "filters": filters}


def failure_page(engine: sa.Engine, caller: Principal, failure_id: str) -> dict[str, Any]:
    failure = failure_routes.get_failure(failure_id, caller, engine)
    run = None
    if failure.run_id:
        with engine.connect() as conn:
            row = run_queries.get_run(conn, caller.workspace, failure.run_id)
        run = RunOut.model_validate(row, from_attributes=True) if row is not None else None
    return {"failure": failure, "run": run}


def cost_page(engine: sa.Engine, caller: Principal, by: str, days: int, now: datetime) -> dict[str, Any]:
    """Totals per group (the API's report) and cost per day per group, over the same whole days."""
    first = cost_series.first_day(now, days)
    where = WorkspaceRunFilter(workspace=caller.workspace, since=first)
    with engine.connect() as conn:
        totals = [ReportRowOut.model_validate(g) for g in usage_report(conn, where, by)]
    with engine.connect() as conn:
        points = cost_series.daily_cost(conn, caller.workspace, by, first)
    totals.sort(key=lambda row: -row.cost_usd)
    return {
        "by": by,
        "days": days,
        "since": first,
        "totals": totals,
        "chart": charts.stacked_daily(points, first, days),
    }


def audit_page(
    engine: sa.Engine, caller: Principal, actor: str | None, action: str | None, cursor: str | None
) -> dict[str, Any]:
    page = audit_routes.list_audit_events(
        caller, engine, actor=actor, action=action, limit=PAGE_SIZE, cursor=cursor
    )
    return {"page": page, "actor": actor, "action": action}


def triggers_page(
    engine: sa.Engine, caller: Principal, workflow: str | None, trigger_type: str | None, latest: bool
) -> dict[str, Any]:
    rows = health_routes.triggers(
        caller, engine, workflow=workflow, trigger_type=trigger_type, limit=100, latest=latest
    )
    return {"triggers": rows, "workflow": workflow, "trigger_type": trigger_type, "latest": latest}


def live_status(engine: sa.Engine, caller: Principal, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status and running totals of a few runs (the pages poll this while runs are in flight)."""
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for run_id in run_ids[:PAGE_SIZE]:
            row = run_queries.get_run(conn, caller.workspace, run_id)
            if row is not None:
                run = RunOut.model_validate(row, from_attributes=True)
                found[run_id] = {
                    "status": run.status,
                    "duration_ms": run.duration_ms,
                    "tokens": run.input_tokens + run.output_tokens,
                    "cost_usd": run.cost_usd,
                    "unpriced_calls": run.unpriced_calls,
                }
    return found
