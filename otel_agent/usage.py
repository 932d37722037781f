"""Normalise token usage from every common spelling into one canonical form.

Accepted spellings, first found wins per field (current semconv first):

* current GenAI semconv: ``gen_ai.usage.input_tokens`` ... ``gen_ai.usage.reasoning.output_tokens``;
* deprecated GenAI semconv: ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``, ``gen_ai.system``;
* OpenInference: ``llm.token_count.*``, ``llm.model_name``, ``llm.provider`` / ``llm.system``;
* OpenLLMetry (Traceloop): ``llm.usage.*``, ``gen_ai.usage.cache_read_input_tokens`` and friends.

Invariant (semconv): cache-read and cache-creation tokens are INSIDE ``input_tokens`` and reasoning tokens
are INSIDE ``output_tokens``; nothing here adds them again. Values we cannot trust (wrong type, negative,
absurdly large, NaN, bytes) are dropped and described in ``Usage.invalid`` rather than raising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_agent import attributes as A

# Larger than any real single call (context windows are ~10^7); beyond it the value is a bug upstream.
MAX_TOKENS = 1_000_000_000

_INPUT = (
    A.GEN_AI_USAGE_INPUT_TOKENS,
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_OUTPUT = (
    A.GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_CACHE_READ = (
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "llm.usage.cache_read_input_tokens",
)
_CACHE_CREATION = (
    A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
    "llm.usage.cache_creation_input_tokens",
)
_REASONING = (
    A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "llm.usage.reasoning_tokens",
)
_MODEL = (
    A.GEN_AI_RESPONSE_MODEL,
    A.GEN_AI_REQUEST_MODEL,
    "llm.model_name",
    "llm.response.model",
    "llm.request.model",
)
_PROVIDER = (A.GEN_AI_PROVIDER_NAME, "gen_ai.system", "llm.provider", "llm.system")

# Every key that can carry usage: a span without any of them skips normalisation entirely (hot path).
USAGE_KEYS = frozenset(_INPUT + _OUTPUT + _CACHE_READ + _CACHE_CREATION + _REASONING)


@dataclass(frozen=True, slots=True)
class Usage:
    """Canonical usage of one LLM call; None means "not reported", never "zero"."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    provider: str | None = None
    model: str | None = None
    invalid: tuple[str, ...] = ()

    @property
    def has_tokens(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


def _as_count(value: Any) -> tuple[int | None, str | None]:
    """A token count from an attribute value, or (None, why it is unusable)."""
    if isinstance(value, bool):
        return None, "is a boolean"
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None, f"is not a whole number ({value!r})"
        value = int(value)
    if not isinstance(value, int):
        return None, f"has type {type(value).__name__}"
    if value < 0:
        return None, f"is negative ({value})"
    if value > MAX_TOKENS:
        return None, f"is too large ({value})"
    return value, None


def _first_count(attrs: Mapping[str, Any], keys: tuple[str, ...], notes: list[str]) -> int | None:
    for key in keys:
        if key in attrs:
            count, problem = _as_count(attrs[key])
            if problem is None:
                return count
            notes.append(f"{key} {problem}")
    return None


def _first_text(attrs: Mapping[str, Any], keys: tuple[str, ...], notes: list[str]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None and not isinstance(value, str):
            notes.append(f"{key} has type {type(value).__name__}")
    return None


def _check_parts(usage: dict[str, Any], notes: list[str]) -> None:
    """Parts must fit inside their totals; a part larger than its total is noted and the total raised."""
    cached = (usage["cache_read_tokens"] or 0) + (usage["cache_creation_tokens"] or 0)
    if usage["input_tokens"] is not None and cached > usage["input_tokens"]:
        notes.append(f"cache tokens ({cached}) exceed input_tokens ({usage['input_tokens']})")
        usage["input_tokens"] = cached
    reasoning = usage["reasoning_tokens"] or 0
    if usage["output_tokens"] is not None and reasoning > usage["output_tokens"]:
        notes.append(f"reasoning tokens ({reasoning}) exceed output_tokens ({usage['output_tokens']})")
        usage["output_tokens"] = reasoning


def normalize_usage(attrs: Mapping[str, Any]) -> Usage:
    """Read usage, model and provider from span attributes in any accepted spelling."""
    notes: list[str] = []
    fields: dict[str, Any] = {
        "input_tokens": _first_count(attrs, _INPUT, notes),
        "output_tokens": _first_count(attrs, _OUTPUT, notes),
        "cache_read_tokens": _first_count(attrs, _CACHE_READ, notes),
        "cache_creation_tokens": _first_count(attrs, _CACHE_CREATION, notes),
        "reasoning_tokens": _first_count(attrs, _REASONING, notes),
    }
    _check_parts(fields, notes)
    provider = _first_text(attrs, _PROVIDER, notes)
    return Usage(
        **fields,
        provider=provider.lower() if provider else None,
        model=_first_text(attrs, _MODEL, notes),
        invalid=tuple(notes),
    )


def canonical_attributes(usage: Usage) -> dict[str, Any]:
    """The current-semconv attributes for a normalised usage (only the fields that were reported)."""
    pairs = (
        (A.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
        (A.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
        (A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_tokens),
        (A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cache_creation_tokens),
        (A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_tokens),
        (A.GEN_AI_PROVIDER_NAME, usage.provider),
    )
    out: dict[str, Any] = {key: value for key, value in pairs if value is not None}
    if usage.invalid:
        out[A.USAGE_INVALID] = list(usage.invalid)
    return out
