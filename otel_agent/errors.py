"""Error taxonomy: classify an HTTP status, a provider error body, an exception or a span.

The categories are ``attributes.ERROR_CATEGORIES``. One entry point for callers that hold raw pieces::

    classify_error(status_code=429, body=b'{"error": {...}}', exception=None, is_tool=False)

and one for finished spans (``classify_span``), used by the end-enrichment processor. Rules are tried in
a fixed order, most specific first: cancellation, context length, content filter, rate limit, auth,
timeout, other client errors (validation), server errors (provider_error), then tool_error for a
failing tool, else unknown. Never raises: odd input (bytes that are not UTF-8, huge bodies) is read
leniently and capped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otel_agent import attributes as A

_BODY_CAP = 16_384  # provider error bodies are small; a huge one is read only this far

# (category, markers searched in the lowercased body + exception type + message)
_TEXT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cancelled", ("cancellederror", "cancelled by the client")),
    ("budget", ("budgetexceeded",)),
    (
        "context_length",
        (
            "context_length_exceeded",
            "maximum context length",
            "context window",
            "prompt is too long",
            "input is too long",
            "too many tokens",
            "exceeds the context",
        ),
    ),
    ("content_filter", ("content_filter", "content_policy", "contentfilter", "responsible ai policy")),
    ("rate_limit", ("rate_limit", "ratelimit", "resource_exhausted", "too many requests", "quota")),
    (
        "auth",
        (
            "invalid_api_key",
            "authentication",
            "unauthenticated",
            "permission_denied",
            "permissiondenied",
            "unauthorized",
        ),
    ),
    ("timeout", ("timeout", "timed out", "deadline_exceeded", "deadline exceeded")),
    ("tool_error", ("tool_use_failed",)),
    ("provider_error", ("overloaded", "internal_server_error", "internalservererror", "apiconnectionerror")),
    (
        "validation",
        ("validationerror", "invalid_request", "badrequest", "unprocessable", "valueerror", "typeerror"),
    ),
)


def _status_category(status: int) -> str | None:
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status in (408, 504):
        return "timeout"
    if status == 413:
        return "context_length"
    if 400 <= status < 500:
        return "validation"
    if status >= 500:
        return "provider_error"
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:_BODY_CAP]).decode("utf-8", errors="replace").lower()
    return str(value)[:_BODY_CAP].lower()


def _text_category(haystack: str) -> str | None:
    for category, markers in _TEXT_RULES:
        if any(marker in haystack for marker in markers):
            return category
    return None


def classify_error(
    *,
    status_code: int | None = None,
    body: str | bytes | Mapping[str, Any] | None = None,
    exception: BaseException | None = None,
    exception_type: str | None = None,
    message: str | None = None,
    is_tool: bool = False,
) -> str:
    """The taxonomy category for whatever is known about one failure; "unknown" if nothing fits."""
    if exception is not None:
        exception_type = exception_type or type(exception).__name__
        message = message or str(exception)
    haystack = " ".join((_text(exception_type), _text(body), _text(message)))
    category = _text_category(haystack)
    # The body's words beat the status: a 400 that says "context_length_exceeded" is context_length.
    if category is None and isinstance(status_code, int) and not isinstance(status_code, bool):
        category = _status_category(status_code)
    if category is None and isinstance(exception, (TimeoutError,)):
        category = "timeout"
    if category is None and isinstance(exception, (ValueError, TypeError)):
        category = "validation"
    if is_tool and category in (None, "validation"):
        category = "tool_error"  # a tool that rejects its input is a failing tool, not a bad LLM request
    return category or "unknown"


def _exception_event(events: Sequence[Any]) -> tuple[str | None, str | None]:
    for event in reversed(events):
        if event.name == "exception":
            attrs = event.attributes or {}
            return attrs.get(A.EXCEPTION_TYPE), attrs.get(A.EXCEPTION_MESSAGE)
    return None, None


def classify_span(
    attributes: Mapping[str, Any], events: Sequence[Any], status_description: str | None
) -> str:
    """Category for a failed span from its error.type, HTTP status, exception event and status text."""
    exc_type, exc_message = _exception_event(events)
    status = attributes.get(A.HTTP_RESPONSE_STATUS_CODE)
    if status is None:  # the old spelling: httpx instrumentation's POST span of a 429 carries only it
        status = attributes.get(A.HTTP_STATUS_CODE_LEGACY)
    return classify_error(
        status_code=status if isinstance(status, int) else None,
        exception_type=" ".join(str(x) for x in (attributes.get(A.ERROR_TYPE), exc_type) if x),
        message=" ".join(str(x) for x in (exc_message, status_description) if x),
        is_tool=attributes.get(A.GEN_AI_OPERATION_NAME) == A.OP_EXECUTE_TOOL,
    )
