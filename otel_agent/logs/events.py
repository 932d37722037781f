"""A run's key events, logged once each at a fitting level, with the same ids and attribution.

``RunEventLogProcessor`` sits downstream of end-enrichment (it reads run status and error categories)
and logs to the ``otel_agent.runs`` logger:

=========================  =======  ==================================================
event.name                 level    when
=========================  =======  ==================================================
otel_agent.run.started     INFO     the run's start marker
otel_agent.llm.retry       WARNING  an LLM call with retry attempt >= 1
otel_agent.llm.failed      ERROR    an LLM call ended in error
otel_agent.tool.failed     ERROR    a tool call ended in error
otel_agent.run.stalled     ERROR    a run ended as stalled (or ``log_run_event`` from a stall sweep)
otel_agent.run.finished    INFO     a run ended: succeeded (INFO), cancelled (WARNING), failed (ERROR)
=========================  =======  ==================================================

Each record is emitted in a context whose current span is the span the event is about (the run for run
events), so the OTLP record's trace and span ids point at it, and the stamp adds the run's attribution.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, set_span_in_context

from otel_agent import attributes as A
from otel_agent.guard import guard
from otel_agent.logs.stamp import STAMPED_ATTRIBUTES

LOGGER_NAME = "otel_agent.runs"
_log = logging.getLogger(LOGGER_NAME)
_MAX_MESSAGE_CHARS = 300
_RUN_LEVELS = {"succeeded": logging.INFO, "cancelled": logging.WARNING, "failed": logging.ERROR}


def log_run_event(
    event: str,
    level: int,
    message: str,
    span_context: SpanContext | None,
    attributes: Mapping[str, Any],
    fields: Mapping[str, Any] | None = None,
) -> None:
    """Log one event about the span ``span_context`` with the attribution found in ``attributes``."""
    ctx = Context()  # start empty: the caller's baggage must not leak into this event's attribution
    for key in STAMPED_ATTRIBUTES:
        value = attributes.get(key)
        if value is not None:
            ctx = baggage.set_baggage(key, str(value), ctx)
    if span_context is not None and span_context.is_valid:
        ctx = set_span_in_context(NonRecordingSpan(span_context), ctx)
    extra = {A.EVENT_NAME: event, **(fields or {})}
    token = otel_context.attach(ctx)
    try:
        _log.log(level, message, extra=extra)
    finally:
        otel_context.detach(token)


class RunEventLogProcessor(SpanProcessor):
    """Logs run start/finish, LLM failures and retries, tool errors and stalls from finished spans."""

    def __init__(self, remember: int = 4096) -> None:
        self._remember = remember
        self._seen: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        attrs = span.attributes
        if not attrs:
            return
        with guard("logs.events"):
            self._events(span, attrs)

    def _events(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
        if attrs.get(A.MARKER) == A.MARKER_RUN_START:
            run = span.parent or span.context
            self._once(run, "otel_agent.run.started", logging.INFO,
                       f"run started: {attrs.get(A.RUN_NAME, '')}", attrs)
            return
        operation = attrs.get(A.GEN_AI_OPERATION_NAME)
        if operation in A.RUN_OPERATIONS or attrs.get(A.RUN) is True:
            self._run_ended(span, attrs)
        elif operation in A.LLM_OPERATIONS:
            self._llm_ended(span, attrs)
        elif operation == A.OP_EXECUTE_TOOL and _failed(span):
            self._once(span.context, "otel_agent.tool.failed", logging.ERROR,
                       f"tool {attrs.get(A.GEN_AI_TOOL_NAME, '')} failed: {_reason(span, attrs)}", attrs,
                       {A.GEN_AI_TOOL_NAME: attrs.get(A.GEN_AI_TOOL_NAME)})

    def _run_ended(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
        status = attrs.get(A.RUN_STATUS) or ("failed" if _failed(span) else "succeeded")
        fields = {A.RUN_STATUS: status}
        for key in (A.ERROR_CATEGORY, A.ROLLUP_LLM_CALLS, A.ROLLUP_COST_USD):
            fields[key] = attrs.get(key)
        if status == "stalled":
            self._once(span.context, "otel_agent.run.stalled", logging.ERROR,
                       f"run stalled: {span.name}", attrs, fields)
            return
        text = f"run {status}: {span.name}"
        if status == "failed":
            text += f": {_reason(span, attrs)}"
        self._once(span.context, "otel_agent.run.finished", _RUN_LEVELS.get(str(status), logging.INFO),
                   text, attrs, fields)

    def _llm_ended(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
        model = attrs.get(A.GEN_AI_REQUEST_MODEL, "")
        attempt = attrs.get(A.RETRY_ATTEMPT) or attrs.get(A.HTTP_RESEND_COUNT) or 0
        fields = {A.GEN_AI_REQUEST_MODEL: attrs.get(A.GEN_AI_REQUEST_MODEL), A.RETRY_ATTEMPT: attempt,
                  A.ERROR_CATEGORY: attrs.get(A.ERROR_CATEGORY)}
        if isinstance(attempt, int) and attempt >= 1:
            self._once(span.context, "otel_agent.llm.retry", logging.WARNING,
                       f"LLM call to {model} retried (attempt {attempt})", attrs, fields)
        if _failed(span):
            self._once(span.context, "otel_agent.llm.failed", logging.ERROR,
                       f"LLM call to {model} failed: {_reason(span, attrs)}", attrs, fields)

    def _once(self, span_context: SpanContext | None, event: str, level: int, message: str,
              attrs: Mapping[str, Any], fields: Mapping[str, Any] | None = None) -> None:
        # The same span can reach us twice (a processor registered on two paths): log it once.
        key = (span_context.span_id if span_context else 0, event)
        with self._lock:
            if key in self._seen:
                return
            self._seen[key] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        present = {k: v for k, v in (fields or {}).items() if v is not None}
        log_run_event(event, level, message[:_MAX_MESSAGE_CHARS], span_context, attrs, present)


def _failed(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


def _reason(span: ReadableSpan, attrs: Mapping[str, Any]) -> str:
    category = attrs.get(A.ERROR_CATEGORY) or "unknown"
    detail = span.status.description or attrs.get(A.ERROR_TYPE) or ""
    return f"{category}: {detail}" if detail else str(category)
