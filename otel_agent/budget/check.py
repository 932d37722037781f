"""The test before each LLM request, and the record of a refusal.

``before_call`` runs in the genai capture for every request routed to a provider. Without a budget in
the current context it is one context lookup. Under a budget it finds the request's output cap
(``max_tokens``, ``max_completion_tokens``, ``max_output_tokens`` or Gemini's ``maxOutputTokens``) with one
byte search and prices it at the model's output rate: the most this call can add beyond its input.
A request without a cap has a worst case of 0 (only spend already made counts); an unpriced model too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_agent import attributes as A
from otel_agent.budget import ledger
from otel_agent.budget.errors import BudgetExceeded
from otel_agent.guard import contain, guard

_MAX_TOKENS = re.compile(rb'"max_(?:completion_|output_)?tokens"\s*:\s*(\d{1,9})')
_GEMINI_MAX = re.compile(rb'"maxOutputTokens"\s*:\s*(\d{1,9})')
_KEY = b'"max_'
_MAX_CANDIDATES = 16
EVENT = "otel_agent.budget.exceeded"
CATEGORY = "budget"


def before_call(
    tracer: trace.Tracer, raw: bytes | None, provider: str, operation: str, model: str | None
) -> None:
    """Raise ``BudgetExceeded`` (mode stop) or log once (mode warn) when this call would overspend."""
    node = otel_context.get_value(ledger.KEY)
    daily = ledger.CONFIG.daily
    if node is None and daily is None:
        return
    try:  # a plain try, not guard(): a generator context manager would cost ~1 us on every call
        refusal = _refusal(node, daily, raw, provider, model)
    except Exception as failure:  # our failure lets the call go (fail open), counted and logged
        if contain("budget.check", failure):
            raise
        return
    if refusal is None:
        return
    exc, mode, first = refusal
    if mode == "warn":
        if first:
            with guard("budget.warn"):
                _log_event(logging.WARNING, exc, trace.get_current_span().get_span_context())
        return
    with guard("budget.refusal"):
        _record_refusal(tracer, exc, provider, operation)
    raise exc


def _refusal(
    node: Any, daily: Any, raw: bytes | None, provider: str, model: str | None
) -> tuple[BudgetExceeded, str, bool] | None:
    worst = worst_case_usd(raw, provider, model)
    refusal = _run_refusal(node, worst, model) if node is not None else None
    if refusal is None and daily is not None:
        refusal = _daily_refusal(daily, worst, model)
    return refusal


def _run_refusal(node: Any, worst: float, model: str | None) -> tuple[BudgetExceeded, str, bool] | None:
    over = node.first_over(worst)
    if over is None:
        return None
    exc = BudgetExceeded(
        scope=over.scope,
        limit_usd=over.limit_usd,
        spent_usd=over.spent_usd,
        worst_case_usd=worst,
        model=model,
        run_id=over.run_id,
    )
    first, over.warned = not over.warned, True
    return exc, over.mode, first


def _daily_refusal(daily: Any, worst: float, model: str | None) -> tuple[BudgetExceeded, str, bool] | None:
    project = baggage.get_baggage(A.PROJECT)
    found = daily.over(str(project), worst) if project is not None else None
    if found is None:
        return None
    scope = f"project-day:{project}"
    exc = BudgetExceeded(
        scope=scope, limit_usd=found[0], spent_usd=found[1], worst_case_usd=worst, model=model
    )
    first = scope not in daily.warned
    daily.warned.add(scope)
    return exc, ledger.CONFIG.mode, first


def output_cap(raw: bytes | None, provider: str) -> int:
    """The request's output token cap, 0 when it has none.

    Where the SDKs put it: anthropic first in the body, openai after the messages, near the end. So the
    body's first key is tried, then the body is searched from its end backwards: a long prompt is
    scanned only when the request has no cap at all. Only a key followed by a number matches (inside a
    JSON string the quotes are escaped; a tool schema's "max_tokens" property is an object)."""
    if not raw:
        return 0
    found = _cap_at(raw, 1) if raw.startswith(_KEY, 1) else None  # anthropic: {"max_tokens":...
    if found is None:
        found = _cap_from_end(raw)
    if found is None and provider.startswith("gcp."):
        gemini = _GEMINI_MAX.search(raw)
        found = int(gemini.group(1)) if gemini else None
    return found or 0


def _cap_at(raw: bytes, at: int) -> int | None:
    found = _MAX_TOKENS.match(raw, at) if at >= 0 else None
    return int(found.group(1)) if found else None


def _cap_from_end(raw: bytes) -> int | None:
    end = len(raw)
    for _ in range(_MAX_CANDIDATES):  # "max_" keys that are not a cap (max_retries...) are skipped
        at = raw.rfind(_KEY, 0, end)
        if at < 0:
            return None
        found = _cap_at(raw, at)
        if found is not None:
            return found
        end = at
    return None


def worst_case_usd(raw: bytes | None, provider: str, model: str | None) -> float:
    cap = output_cap(raw, provider)
    if not cap or not model:
        return 0.0
    prices = ledger.CONFIG.prices
    if prices is None:  # no enriching processor configured one: a default book, made once
        from otel_agent.pricing import PriceBook

        prices = ledger.CONFIG.prices = PriceBook()
    rates = prices.rates_for(provider, model)
    return cap * rates.output if rates is not None else 0.0


def _record_refusal(tracer: trace.Tracer, exc: BudgetExceeded, provider: str, operation: str) -> None:
    """A failed LLM-call span (so a failure row of category budget) and an ERROR log event."""
    attributes: dict[str, Any] = {
        A.GEN_AI_PROVIDER_NAME: provider,
        A.GEN_AI_OPERATION_NAME: operation,
        A.ERROR_TYPE: type(exc).__qualname__,
        A.ERROR_CATEGORY: CATEGORY,
    }
    if exc.model:
        attributes[A.GEN_AI_REQUEST_MODEL] = exc.model
    name = f"{operation} {exc.model}" if exc.model else operation
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    span.record_exception(exc, escaped=True)
    span.set_status(Status(StatusCode.ERROR, str(exc)))
    context = span.get_span_context()
    span.end()
    _log_event(logging.ERROR, exc, context)


def _log_event(level: int, exc: BudgetExceeded, span_context: Any) -> None:
    from otel_agent.logs.events import log_run_event  # the logs package is optional on this path

    fields = {
        A.ERROR_CATEGORY: CATEGORY,
        "otel_agent.budget.scope": exc.scope,
        "otel_agent.budget.limit_usd": exc.limit_usd,
        "otel_agent.budget.spent_usd": exc.spent_usd,
        "otel_agent.budget.worst_case_usd": exc.worst_case_usd,
    }
    message = str(exc) if level >= logging.ERROR else f"{exc} (mode warn: sent anyway)"
    log_run_event(EVENT, level, message, span_context, baggage.get_all(), fields)
