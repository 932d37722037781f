"""Read what the metrics need from an enriched, finished span into a small immutable sample.

This runs on the application's thread (in ``on_end``), so it only reads attributes: no SDK calls, no
locks, no string formatting. Spans that feed no metric (HTTP, DB, plain internal spans) give ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, StatusCode

from otel_agent import attributes as A

_FINAL_STATUSES = frozenset(A.RUN_STATUSES) - {"running"}
_CATEGORIES = frozenset(A.ERROR_CATEGORIES)
SEMCONV_OTHER_ERROR = "_OTHER"  # semconv's error.type when nothing more specific is known


class LlmSample(NamedTuple):
    """One finished LLM call."""

    model: tuple[Any, Any, Any, Any]  # names.MODEL_LABELS values
    attribution: tuple[Any, Any, Any, Any]  # names.ATTRIBUTION_LABELS values
    duration_s: float
    time_to_first_chunk_s: Any  # raw attribute value: as_number() when drained
    tokens: tuple[Any, Any, Any, Any, Any]  # in, out, cache read, cache creation, reasoning: as_count()
    cost_usd: Any  # raw: as_number()
    unpriced: bool
    error_type: str | None
    context: SpanContext | None
    cost_credits: Any = None  # raw: as_number(); None when credits are off (docs/budgets.md)


class RunSample(NamedTuple):
    """One finished run."""

    run_id: str | None
    attribution: tuple[Any, Any, Any, Any]
    status: str
    error_category: str | None
    duration_s: float
    llm_calls: int | None
    steps: int | None
    context: SpanContext | None


class MarkerSample(NamedTuple):
    """A run's start or heartbeat marker."""

    kind: str  # attributes.MARKER_RUN_START | MARKER_RUN_HEARTBEAT
    run_id: str | None
    attribution: tuple[Any, Any, Any, Any]
    time_unix_nano: int


Sample = LlmSample | RunSample | MarkerSample


def attributes_of(span: ReadableSpan) -> Mapping[str, Any]:
    """The finished span's attributes as a plain dict, for fast reads.

    ``ReadableSpan.attributes`` is a read-only proxy over ``BoundedAttributes``, where each ``get`` costs
    about 0.5 us through the ABC machinery: a dozen reads would cost more than the 5 us budget. A finished
    span's SDK attributes are immutable, so reading their inner dict is safe; any other implementation
    falls back to a copy.
    """
    raw = getattr(span, "_attributes", None)
    inner = raw if isinstance(raw, dict) else getattr(raw, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return dict(span.attributes or {})


def sample_of(span: ReadableSpan) -> Sample | None:
    """The span's sample, or None when no metric reads this kind of span."""
    attrs = attributes_of(span)
    if not attrs:
        return None
    marker = attrs.get(A.MARKER)
    if marker is not None:
        return _marker(span, attrs, marker)
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    if operation in A.LLM_OPERATIONS:
        return _llm(span, attrs, operation)
    if operation in A.RUN_OPERATIONS or attrs.get(A.RUN) is True:
        return _run(span, attrs)
    return None


def _attribution(attrs: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    return (attrs.get(A.PROJECT), attrs.get(A.STAGE), attrs.get(A.AGENT_ROLE), attrs.get(A.GEN_AI_AGENT_NAME))


def _seconds(span: ReadableSpan) -> float:
    start, end = span.start_time, span.end_time
    if start is None or end is None or end < start:
        return 0.0
    return (end - start) / 1e9


def as_count(value: Any) -> int | None:
    # Enrichment already normalised usage; anything odd here (negative, text, bool) is simply not counted.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _is_error(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


def _llm(span: ReadableSpan, attrs: Mapping[str, Any], operation: str) -> LlmSample:
    # Values are taken raw (checked with as_count / as_number when drained): this runs per LLM span on
    # the application's thread, where every function call counts.
    get = attrs.get
    error_type = None
    if span.status.status_code is StatusCode.ERROR:
        error_type = get(A.ERROR_TYPE) or SEMCONV_OTHER_ERROR
    return LlmSample(
        (operation, get(A.GEN_AI_PROVIDER_NAME), get(A.GEN_AI_REQUEST_MODEL), get(A.GEN_AI_RESPONSE_MODEL)),
        (get(A.PROJECT), get(A.STAGE), get(A.AGENT_ROLE), get(A.GEN_AI_AGENT_NAME)),
        _seconds(span),
        get(A.TIME_TO_FIRST_CHUNK_S),
        (
            get(A.GEN_AI_USAGE_INPUT_TOKENS),
            get(A.GEN_AI_USAGE_OUTPUT_TOKENS),
            get(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
            get(A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
            get(A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        ),
        get(A.COST_USD),
        get(A.PRICE_SOURCE) == A.PRICE_SOURCE_UNPRICED,
        error_type,
        span.context,
        get(A.COST_CREDITS),
    )


def _run_status(span: ReadableSpan, attrs: Mapping[str, Any]) -> str:
    status = attrs.get(A.RUN_STATUS)
    if status in _FINAL_STATUSES:
        return str(status)
    return "failed" if _is_error(span) else "succeeded"


def _run(span: ReadableSpan, attrs: Mapping[str, Any]) -> RunSample:
    status = _run_status(span, attrs)
    category = None
    if status == "failed":
        raw = attrs.get(A.ERROR_CATEGORY)
        category = raw if raw in _CATEGORIES else "unknown"
    llm_calls = as_count(attrs.get(A.ROLLUP_LLM_CALLS))
    tool_calls = as_count(attrs.get(A.ROLLUP_TOOL_CALLS))
    steps = None if llm_calls is None and tool_calls is None else (llm_calls or 0) + (tool_calls or 0)
    context = span.context
    return RunSample(
        run_id=attrs.get(A.RUN_ID) or (format(context.span_id, "016x") if context else None),
        attribution=_attribution(attrs),
        status=status,
        error_category=category,
        duration_s=_seconds(span),
        llm_calls=llm_calls,
        steps=steps,
        context=context,
    )


def _marker(span: ReadableSpan, attrs: Mapping[str, Any], marker: Any) -> MarkerSample | None:
    if marker not in (A.MARKER_RUN_START, A.MARKER_RUN_HEARTBEAT):
        return None
    return MarkerSample(
        kind=str(marker),
        run_id=attrs.get(A.RUN_ID),
        attribution=_attribution(attrs),
        time_unix_nano=span.end_time or span.start_time or 0,
    )
