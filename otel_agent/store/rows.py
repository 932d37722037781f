"""SpanRecord -> row dicts for the store's tables. Pure functions; run ids are resolved by the caller.

Every row of one table has the same keys (bulk executemany needs that). Text is bounded to its
column's size, so a 1 MB attribute costs its tail, never the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from otel_agent import attributes as A
from otel_agent.exchange import is_http_client, on_wire
from otel_agent.record import SpanRecord
from otel_agent.store import models as M
from otel_agent.store.clean import count, duration_ms, number, small_int, span_id, text, time_from_nanos
from otel_agent.store.content import ContentPolicy

NAME_CHARS = 256
LONG_NAME_CHARS = 512
MESSAGE_CHARS = 4_096
STACK_CHARS = 16_384

_TOKEN_ATTRS = (
    ("input_tokens", A.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", A.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_tokens", A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_creation_tokens", A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_tokens", A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
)
_ATTRIBUTION = (
    ("project", A.PROJECT),
    ("stage", A.STAGE),
    ("agent_role", A.AGENT_ROLE),
    ("user_id", A.USER_ID),
)
_RUN_ATTRIBUTION = (
    *_ATTRIBUTION,
    ("agent_name", A.GEN_AI_AGENT_NAME),
    ("workflow_name", A.GEN_AI_WORKFLOW_NAME),
    ("workspace", A.WORKSPACE),
    ("trigger_id", A.TRIGGER_ID),
    ("session_id", A.SESSION_ID),
    ("conversation_id", A.GEN_AI_CONVERSATION_ID),
    ("request_id", A.REQUEST_ID),
)
_STEP_KINDS = {op: "llm" for op in A.LLM_OPERATIONS} | {
    A.OP_EXECUTE_TOOL: "tool",
    A.OP_INVOKE_AGENT: "agent",
    A.OP_CREATE_AGENT: "agent",
    A.OP_INVOKE_WORKFLOW: "agent",
}
# OpenInference spans name their kind instead of an operation (LangChain's tracer, the OpenAI Agents SDK's).
_OI_STEP_KINDS = {"LLM": "llm", "EMBEDDING": "llm", "TOOL": "tool", "AGENT": "agent"}
_STEP_STATUS = {"ERROR": "error", "OK": "ok"}


def is_marker(record: SpanRecord) -> bool:
    return record.attributes.get(A.MARKER) is not None or record.name == A.MARKER_SPAN_NAME


def is_run(record: SpanRecord) -> bool:
    attrs = record.attributes
    return (
        attrs.get(A.GEN_AI_OPERATION_NAME) in A.RUN_OPERATIONS
        or attrs.get(A.RUN) is True
        or attrs.get(A.RUN_ID) == record.span_id
        or _framework_run(attrs.get(A.OI_SPAN_KIND), record.parent_span_id)
    )


def _framework_run(kind: Any, parent_span_id: str | None) -> bool:
    """An agent framework's own span, from any process: an OpenInference AGENT, or a CHAIN at the root of
    its trace (a LangGraph graph; OpenInference's LangChain tracer names the kind only when it ends)."""
    return kind == "AGENT" or (kind == "CHAIN" and not parent_span_id)


def marker_run_id(record: SpanRecord) -> str | None:
    """The run a marker speaks for: its RUN_ID, else its parent (markers are children of the run)."""
    return span_id(record.attributes.get(A.RUN_ID)) or span_id(record.parent_span_id)


def _attribution(record: SpanRecord, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Attribution from the span's attributes, else from its resource (e.g. a service deployed per
    workspace sets ``otel_agent.workspace`` once in OTEL_RESOURCE_ATTRIBUTES): the span wins."""
    attrs, resource = record.attributes, record.resource_attributes
    found = {}
    for column, name in fields:
        value = attrs.get(name)
        found[column] = text(resource.get(name) if value is None else value, NAME_CHARS)
    return found


def _resource_fallback(row: dict[str, Any], resource: Mapping[str, Any]) -> None:
    """Fill the step's attribution columns its span left empty from its resource."""
    for column, name in _ATTRIBUTION:
        if row[column] is None:
            row[column] = text(resource.get(name), NAME_CHARS)


def _trigger_type(record: SpanRecord) -> str | None:
    value = record.attributes.get(A.TRIGGER_TYPE)
    return text(record.resource_attributes.get(A.TRIGGER_TYPE) if value is None else value, 64)


def _service(record: SpanRecord) -> str | None:
    return text(record.resource_attributes.get(A.SERVICE_NAME), NAME_CHARS)


def tags(attrs: Mapping[str, Any]) -> dict[str, str | None] | None:
    found = {
        key[len(A.TAG_PREFIX) :][:NAME_CHARS]: text(value, NAME_CHARS)
        for key, value in attrs.items()
        if key.startswith(A.TAG_PREFIX)
    }
    return found or None


def run_status(record: SpanRecord) -> str:
    declared = record.attributes.get(A.RUN_STATUS)
    if declared in M.TERMINAL_RUN_STATUSES:
        return str(declared)
    if record.attributes.get(A.ERROR_CATEGORY) == "cancelled":
        return M.RUN_STATUS_CANCELLED
    return M.RUN_STATUS_FAILED if record.status_code == "ERROR" else M.RUN_STATUS_SUCCEEDED


def _error_message(record: SpanRecord) -> str | None:
    if record.status_code != "ERROR":
        return None
    exception = last_exception(record)
    message = record.status_message or exception.get(A.EXCEPTION_MESSAGE)
    return text(message, MESSAGE_CHARS)


def _error_category(record: SpanRecord) -> str | None:
    category = text(record.attributes.get(A.ERROR_CATEGORY), 64)
    if category is None and record.status_code == "ERROR":
        return "unknown"
    return category


def last_exception(record: SpanRecord) -> Mapping[str, Any]:
    for event in reversed(record.events):
        if event.name == "exception":
            return event.attributes
    return {}


def run_row(
    record: SpanRecord, parent_run_id: str | None, root_run_id: str, content: ContentPolicy, now: datetime
) -> dict[str, Any]:
    """The row a run's own span makes: authoritative for everything but totals."""
    attrs = record.attributes
    return {
        "run_id": record.span_id,
        "trace_id": record.trace_id,
        "parent_span_id": record.parent_span_id,
        "parent_run_id": parent_run_id,
        "root_run_id": root_run_id,
        "name": text(record.name, LONG_NAME_CHARS),
        "operation": text(attrs.get(A.GEN_AI_OPERATION_NAME), 64) or "run",
        "status": run_status(record),
        **_attribution(record, _RUN_ATTRIBUTION),
        "trigger_type": _trigger_type(record),
        "service_name": _service(record),
        "started_at": time_from_nanos(record.start_time_unix_nano),
        "ended_at": time_from_nanos(record.end_time_unix_nano),
        "duration_ms": duration_ms(record.start_time_unix_nano, record.end_time_unix_nano),
        "tags": tags(attrs),
        "error_category": _error_category(record),
        "error_message": _error_message(record),
        "input_content": content.apply(attrs.get(A.GEN_AI_INPUT_MESSAGES)),
        "output_content": content.apply(attrs.get(A.GEN_AI_OUTPUT_MESSAGES)),
        "span_seen": True,
        "updated_at": now,
    }


def marker_row(record: SpanRecord, run_id: str, now: datetime) -> dict[str, Any]:
    """The row an in-flight marker makes: the run is running, seen alive at the marker's time."""
    attrs = record.attributes
    parent_run_id = span_id(attrs.get(A.RUN_PARENT_ID))
    return {
        "run_id": run_id,
        "trace_id": record.trace_id,
        "parent_run_id": parent_run_id if parent_run_id != run_id else None,
        "root_run_id": span_id(attrs.get(A.RUN_ROOT_ID)) or run_id,
        "name": text(attrs.get(A.RUN_NAME), LONG_NAME_CHARS),
        "status": M.RUN_STATUS_RUNNING,
        **_attribution(record, _RUN_ATTRIBUTION),
        "trigger_type": _trigger_type(record),
        "service_name": _service(record),
        "started_at": time_from_nanos(attrs.get(A.RUN_START_TIME)),
        "last_heartbeat_at": time_from_nanos(record.end_time_unix_nano or record.start_time_unix_nano),
        "tags": tags(attrs),
        "updated_at": now,
    }


def placeholder_row(run_id: str, trace_id: str, now: datetime) -> dict[str, Any]:
    """A run known only from its steps' RUN_ID: its own span and markers fill it in when they come."""
    return {
        "run_id": run_id,
        "trace_id": trace_id,
        "root_run_id": run_id,
        "status": M.RUN_STATUS_RUNNING,
        "updated_at": now,
    }


# Attribute -> (column, cleaner); an int cleaner is a text column's size. A step row starts from a
# template and only the attributes a span actually carries are visited: spans are sparse, so this is
# much cheaper than asking for every column.
_STEP_FIELDS: dict[str, tuple[str, int | Callable[[Any], Any]]] = {
    **{name: (column, NAME_CHARS) for column, name in _ATTRIBUTION},
    A.GEN_AI_PROVIDER_NAME: ("provider", NAME_CHARS),
    A.GEN_AI_REQUEST_MODEL: ("request_model", NAME_CHARS),
    A.GEN_AI_RESPONSE_MODEL: ("response_model", NAME_CHARS),
    A.GEN_AI_TOOL_NAME: ("tool_name", NAME_CHARS),
    A.COST_USD: ("cost_usd", number),
    A.COST_CREDITS: ("cost_credits", number),
    A.PRICE_SOURCE: ("price_source", 32),
    A.RETRY_ATTEMPT: ("retry_attempt", small_int),
    A.TIME_TO_FIRST_CHUNK_S: ("time_to_first_chunk_s", number),
    A.ERROR_CATEGORY: ("error_category", 64),
    A.ERROR_TYPE: ("error_type", NAME_CHARS),
    **{name: (column, count) for column, name in _TOKEN_ATTRS},
}
_STEP_TEMPLATE: dict[str, Any] = {
    **{column: None for column, _ in _STEP_FIELDS.values()},
    **{column: 0 for column, _ in _TOKEN_ATTRS},
    "input_content": None,
    "output_content": None,
    "on_wire": None,
}


def _step_attributes(row: dict[str, Any], attrs: Mapping[str, Any]) -> None:
    """The columns the span's attributes fill. The hottest loop of the store: a clean short ASCII str
    (nearly every value) is checked inline, in C, and kept; anything else goes through the cleaners."""
    fields = _STEP_FIELDS
    for key, value in attrs.items():
        field = fields.get(key)
        if field is None:
            continue
        column, clean = field
        if clean.__class__ is not int:
            row[column] = clean(value)  # type: ignore[operator]
        elif value.__class__ is str and len(value) <= clean and value.isascii() and "\x00" not in value:
            row[column] = value
        else:
            row[column] = text(value, clean)


def _step_kind(operation: Any, attrs: Mapping[str, Any]) -> str:
    """llm | tool | agent by operation (or OpenInference span kind); a priced span is an LLM call
    whatever its operation (as in the roll-up); an HTTP client span is http; anything else a span."""
    kind = _STEP_KINDS.get(operation) if isinstance(operation, str) else None
    if kind is None:
        oi_kind = attrs.get(A.OI_SPAN_KIND)  # an OpenInference span from a process without our operation
        kind = _OI_STEP_KINDS.get(oi_kind) if isinstance(oi_kind, str) else None
    if kind is not None:
        return kind
    if A.PRICE_SOURCE in attrs:
        return "llm"
    return "http" if is_http_client(attrs) else "span"


def step_row(record: SpanRecord, run_id: str | None, content: ContentPolicy) -> dict[str, Any]:
    attrs = record.attributes
    row = _STEP_TEMPLATE.copy()
    _step_attributes(row, attrs)
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    start, end = record.start_time_unix_nano, record.end_time_unix_nano
    row.update(
        span_id=record.span_id,
        trace_id=record.trace_id,
        parent_span_id=record.parent_span_id,
        run_id=run_id,
        name=text(record.name, LONG_NAME_CHARS),
        kind=_step_kind(operation, attrs),
        operation=text(operation, 64),
        status=_STEP_STATUS.get(record.status_code, "unset"),
        started_at=time_from_nanos(start),
        ended_at=time_from_nanos(end),
        duration_ms=duration_ms(start, end),
    )
    if row["kind"] in ("llm", "http"):
        row["on_wire"] = on_wire(attrs)
    if row["error_category"] is None and record.status_code == "ERROR":
        row["error_category"] = "unknown"
    if record.resource_attributes:
        _resource_fallback(row, record.resource_attributes)
    if content.enabled:
        row["input_content"] = content.apply(attrs.get(A.GEN_AI_INPUT_MESSAGES))
        row["output_content"] = content.apply(attrs.get(A.GEN_AI_OUTPUT_MESSAGES))
    return row


def failure_row(record: SpanRecord, run_id: str | None, source: str) -> dict[str, Any]:
    """A failure for an errored span (source ``step`` or ``run``); keyed by span id, so idempotent."""
    attrs = record.attributes
    exception = last_exception(record)
    return {
        "failure_id": record.span_id,
        "source": source,
        "run_id": run_id,
        "span_id": record.span_id,
        "trace_id": record.trace_id,
        "step_name": text(record.name, LONG_NAME_CHARS),
        **_attribution(record, _ATTRIBUTION),
        "error_category": _error_category(record) or "unknown",
        "error_type": text(attrs.get(A.ERROR_TYPE), NAME_CHARS),
        "message": _error_message(record),
        "exception_type": text(exception.get(A.EXCEPTION_TYPE), NAME_CHARS),
        "exception_stacktrace": text(exception.get(A.EXCEPTION_STACKTRACE), STACK_CHARS),
        "retry_attempt": small_int(attrs.get(A.RETRY_ATTEMPT)),
        "occurred_at": time_from_nanos(record.end_time_unix_nano),
    }


def stall_failure_row(run: Mapping[str, Any], stall_after_s: float, now: datetime) -> dict[str, Any]:
    return {
        "failure_id": f"stall:{run['run_id']}",
        "source": "stall",
        "run_id": run["run_id"],
        "span_id": None,
        "trace_id": run["trace_id"],
        "step_name": run["name"],
        "project": run["project"],
        "stage": run["stage"],
        "agent_role": run["agent_role"],
        "user_id": run["user_id"],
        "error_category": "stalled",
        "error_type": None,
        "message": f"no heartbeat for more than {stall_after_s:g} s",
        "exception_type": None,
        "exception_stacktrace": None,
        "retry_attempt": None,
        "occurred_at": now,
    }
