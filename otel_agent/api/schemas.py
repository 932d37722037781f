"""Response and request bodies: they give the OpenAPI document its shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, model_validator

from otel_agent.api.auth import Role
from otel_agent.api.params import NO_NUL

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="null on the last page")


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    source: str = Field(description="app: recorded by application code; api: by the operator API")
    details: dict[str, Any] | None = None


class AuditEventIn(BaseModel):
    """An audit event recorded by another service through the API."""

    actor: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    action: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    target: str = Field("", max_length=500, pattern=NO_NUL)
    outcome: str = Field("success", min_length=1, max_length=20, pattern=NO_NUL)
    details: dict[str, Any] | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    workspace: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown this once and never stored in clear.")


class TokenIn(BaseModel):
    role: Role
    name: str = Field("", max_length=200, pattern=NO_NUL)


class Problem(BaseModel):
    """An error: `detail` says what was wrong and how to fix it."""

    detail: Any


class Tokens(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


class RunOut(Tokens):
    run_id: str
    trace_id: str
    parent_run_id: str | None = None
    root_run_id: str
    name: str | None = None
    operation: str | None = None
    status: str
    project: str | None = None
    stage: str | None = None
    agent_role: str | None = None
    user_id: str | None = None
    agent_name: str | None = None
    workflow_name: str | None = None
    trigger_type: str | None = None
    trigger_id: str | None = None
    session_id: str | None = None
    conversation_id: str | None = None
    service_name: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    duration_ms: float | None = None
    cost_usd: float = 0.0
    cost_credits: float = 0.0  # the product's unit (docs/budgets.md); 0 when credits are off
    llm_calls: int = 0
    tool_calls: int = 0
    error_count: int = 0
    unpriced_calls: int = 0
    models: list[str] | None = None
    providers: list[str] | None = None
    tags: dict[str, Any] | None = None
    error_category: str | None = None
    error_message: str | None = None


class StepOut(Tokens):
    span_id: str
    parent_span_id: str | None = None
    name: str | None = None
    kind: str
    operation: str | None = None
    status: str
    stage: str | None = None
    agent_role: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    tool_name: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    cost_usd: float | None = None
    cost_credits: float | None = None
    price_source: str | None = None
    retry_attempt: int | None = None
    time_to_first_chunk_s: float | None = None
    error_category: str | None = None
    error_type: str | None = None


class FailureOut(BaseModel):
    failure_id: str
    source: str = Field(description="step | run | stall")
    run_id: str | None = None
    span_id: str | None = None
    trace_id: str | None = None
    step_name: str | None = None
    project: str | None = None
    stage: str | None = None
    agent_role: str | None = None
    user_id: str | None = None
    error_category: str
    error_type: str | None = None
    message: str | None = None
    exception_type: str | None = None
    exception_stacktrace: str | None = None
    retry_attempt: int | None = None
    occurred_at: datetime | None = None
    resolved: bool
    resolved_at: datetime | None = None


class RunDetail(BaseModel):
    """One run with everything under it and a link to its trace."""

    run: RunOut
    trace_url: str | None = Field(None, description="Grafana Explore (Tempo); null if no Grafana URL is set")
    steps: list[StepOut]
    steps_truncated: bool = False
    failures: list[FailureOut]
    child_run_ids: list[str]


class FailureGroup(BaseModel):
    """Failures with the same category, error type and message."""

    error_category: str
    error_type: str | None = None
    message: str | None = None
    count: int
    open_count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    runs: int
    sample_failure_id: str


class ResolveGroup(BaseModel):
    """Resolve every open failure of one group (as listed by /failures/groups)."""

    error_category: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    error_type: str | None = Field(None, max_length=256, pattern=NO_NUL)
    message: str | None = Field(None, max_length=100_000, pattern=NO_NUL)


class Resolved(BaseModel):
    resolved: int = Field(description="failures that were open and are now resolved")


class TriggerOut(BaseModel):
    """Who or what started a run: a user, a schedule, a webhook, another agent."""

    workflow: str | None
    trigger_type: str | None
    trigger_id: str | None
    run_id: str
    status: str
    started_at: datetime | None
    user_id: str | None = None


class HealthOut(BaseModel):
    """The operator's dashboard card for one workspace."""

    workspace: str
    failed_runs_today: int = Field(description="runs started since 00:00 UTC that failed or stalled")
    failed_runs_24h: int
    open_failures: int
    running_runs: int
    last_trigger_per_workflow: list[TriggerOut]
    recent_audit_events: list[AuditEventOut]


UNPRICED_CALLS = Field(0, description="LLM calls of a model with no known price: not in cost_usd, never $0")


class ProjectActivity(BaseModel):
    project: str | None
    runs: int
    failed: int
    cost_usd: float = Field(description="USD of the priced LLM calls")
    unpriced_calls: int = UNPRICED_CALLS


class UserActivity(BaseModel):
    """What one user ran in this workspace over the window (nested runs counted)."""

    user_id: str
    since: datetime
    runs: int
    succeeded: int
    failed: int = Field(description="failed or stalled")
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="USD of the priced LLM calls")
    unpriced_calls: int = UNPRICED_CALLS
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    projects: list[ProjectActivity]
    recent_runs: list[RunOut]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Not in this workspace (or does not exist)"}
}


class ReportRow(BaseModel):
    """One group of the usage and cost report (the same figures as `otel-agent report --json`)."""

    group: Any = Field(description="the group's value (null: runs without one)")
    runs: int
    calls: int | None = Field(None, description="LLM calls; only when grouped by provider or model")
    success_rate: float | None = Field(None, description="percent of ended runs that succeeded")
    p50_s: float | None = None
    p95_s: float | None = None
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="USD of the priced LLM calls")
    unpriced_calls: int = UNPRICED_CALLS


class Report(BaseModel):
    by: str
    since: datetime
    groups: list[ReportRow]


class PurgeIn(BaseModel):
    """Exactly one of `user_id` (one user's data) or `older_than_days` (retention)."""

    user_id: str | None = Field(None, min_length=1, max_length=256, pattern=NO_NUL)
    older_than_days: int | None = Field(None, ge=1, le=36500)
    dry_run: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> PurgeIn:
        if (self.user_id is None) == (self.older_than_days is None):
            raise ValueError("give exactly one of user_id, older_than_days")
        return self


class PurgeOut(BaseModel):
    dry_run: bool
    runs: int
    steps: int
    failures: int
