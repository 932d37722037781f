"""What one LLM call told us, gathered while its response is read, turned into span attributes at the end.

Parsers only ever *set* fields (never add), so reading the same event twice changes nothing; usage is kept
in semconv terms: cache reads/writes inside ``input_tokens``, reasoning inside ``output_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otel_agent import attributes as A


@dataclass(slots=True)
class TokenCounts:
    """Token counts in semconv terms (None: the provider did not say)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None

    def add_attributes(self, out: dict[str, Any]) -> None:
        """The known counts under their semconv names ."""
        if self.input_tokens is not None:
            out[A.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            out[A.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.cache_read_tokens is not None:
            out[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read_tokens
        if self.cache_creation_tokens is not None:
            out[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = self.cache_creation_tokens
        if self.reasoning_tokens is not None:
            out[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning_tokens


@dataclass(slots=True)
class CallFacts:
    """Everything the capture learned about one call (one HTTP attempt)."""

    provider: str
    operation: str
    request_model: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    usage: TokenCounts | None = None  # parsers replace it whole, never change it
    error_type: str | None = None
    error_category: str | None = None
    error_message: str | None = None
    retry_after_s: float | None = None
    time_to_first_chunk_s: float | None = None
    capture_errors: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # a parser's own memory between stream events
    gateway: str | None = None  # the gateway or self-hosted server the response named (detected calls)
    named_provider: str | None = None  # the upstream provider a gateway named (detected calls)

    def note(self, problem: str) -> None:
        """Record what could not be read (once per distinct problem, a few at most)."""
        if problem not in self.capture_errors and len(self.capture_errors) < 5:
            self.capture_errors.append(problem)

    def set_finish_reason(self, index: int, reason: Any) -> None:
        if not isinstance(reason, str) or not reason:
            return
        while len(self.finish_reasons) <= index:
            self.finish_reasons.append("")
        self.finish_reasons[index] = reason

    def response_attributes(self) -> dict[str, Any]:
        """The attributes known once the response has been read."""
        out: dict[str, Any] = {}
        if self.response_model:
            out[A.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            out[A.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            reasons = [r for r in self.finish_reasons if r]
            if reasons:
                out[A.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if self.usage is not None:
            self.usage.add_attributes(out)
        if self.error_type:
            out[A.ERROR_TYPE] = self.error_type
        if self.error_category:
            out[A.ERROR_CATEGORY] = self.error_category
        if self.retry_after_s is not None:
            out[A.RETRY_AFTER_S] = self.retry_after_s
        if self.time_to_first_chunk_s is not None:
            out[A.TIME_TO_FIRST_CHUNK_S] = self.time_to_first_chunk_s
        if self.capture_errors:
            out[A.CAPTURE_ERROR] = "; ".join(self.capture_errors)
        return out


def as_int(value: Any) -> int | None:
    """A token count from JSON: ints only (bools and negatives are not counts)."""
    if type(value) is int:  # the usual case, decided without the bool test
        return value if value >= 0 else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]... or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def add(*values: int | None) -> int | None:
    """Sum of the known values; None when none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None
