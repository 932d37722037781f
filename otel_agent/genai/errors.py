"""Provider error responses and transport failures -> semconv ``error.type`` plus our taxonomy category.

The category comes from otel_agent.errors (the one taxonomy); this module only knows the provider error
shapes and Retry-After (seconds, HTTP-date or ``retry-after-ms``).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from otel_agent.errors import classify_error
from otel_agent.genai.facts import CallFacts

_TRANSPORT_WORDS = re.compile(r"Protocol|Connect|Network|ReadError|WriteError|Incomplete")


def provider_error(body: Any) -> tuple[str | None, str | None]:
    """(code or type, message) from the error shapes providers use; (None, None) if none is found."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error", body)
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    kind = error.get("type") or error.get("status")
    message = error.get("message") or body.get("message")
    name = code or (kind if isinstance(kind, str) else None)
    return name, message if isinstance(message, str) else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait as the provider asked, or None."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if "," in raw else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def read_error_response(status: int, headers: Mapping[str, str], body: Any, facts: CallFacts) -> None:
    """Fill the error fields for an HTTP error status (body: decoded JSON, or None if unreadable)."""
    name, message = provider_error(body)
    facts.error_type = name or str(status)
    facts.error_message = message
    facts.error_category = classify_error(status_code=status, body=body, message=name)
    if status == 429 or status == 529 or status >= 500:
        try:
            facts.retry_after_s = retry_after_s(headers)
        except Exception:  # a malformed date is only a missing hint
            facts.note("unreadable retry-after header")


def read_exception(exc: BaseException, facts: CallFacts) -> None:
    """A transport failure (timeout, connection reset, cancellation)."""
    kind = type(exc)
    facts.error_type = f"{kind.__module__}.{kind.__qualname__}"
    category = classify_error(exception=exc)
    if category == "unknown" and _TRANSPORT_WORDS.search(kind.__name__):
        category = "provider_error"  # the connection to the provider broke: reset, cut body, refused
    facts.error_category = category


def read_stream_error(facts: CallFacts) -> None:
    """An error event inside a 200 stream (Anthropic ``overloaded_error`` mid-stream, ...)."""
    if facts.error_type and not facts.error_category:
        facts.error_category = classify_error(exception_type=facts.error_type)
