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
from typing import Any, NamedTuple

from otel_agent import attributes as A

# Larger than any real single call (context windows are ~10^7); beyond it the value is a bug upstream.
MAX_TOKENS = 1_000_000_000

_INPUT = (
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_PROMPT_TOKENS_LEGACY,
    A.OI_TOKEN_COUNT_PROMPT,
    A.TL_USAGE_PROMPT_TOKENS,
)
_OUTPUT = (
    A.GEN_AI_USAGE_OUTPUT_TOKENS,
    A.GEN_AI_USAGE_COMPLETION_TOKENS_LEGACY,
    A.OI_TOKEN_COUNT_COMPLETION,
    A.TL_USAGE_COMPLETION_TOKENS,
)
_CACHE_READ = (
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    A.TL_USAGE_CACHE_READ_INPUT_TOKENS,
    A.OI_TOKEN_COUNT_CACHE_READ,
    A.TL_LLM_CACHE_READ_INPUT_TOKENS,
)
_CACHE_CREATION = (
    A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    A.TL_USAGE_CACHE_CREATION_INPUT_TOKENS,
    A.OI_TOKEN_COUNT_CACHE_WRITE,
    A.TL_LLM_CACHE_CREATION_INPUT_TOKENS,
)
_REASONING = (
    A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    A.TL_USAGE_REASONING_TOKENS,
    A.OI_TOKEN_COUNT_REASONING,
    A.TL_LLM_REASONING_TOKENS,
)
_MODEL = (
    A.GEN_AI_RESPONSE_MODEL,
    A.GEN_AI_REQUEST_MODEL,
    A.OI_MODEL_NAME,
    A.TL_RESPONSE_MODEL,
    A.TL_REQUEST_MODEL,
)
_PROVIDER = (A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM_LEGACY, A.OI_PROVIDER, A.OI_SYSTEM)

# Every key that can carry usage: a span without any of them skips normalisation entirely (hot path).
USAGE_KEYS = frozenset(_INPUT + _OUTPUT + _CACHE_READ + _CACHE_CREATION + _REASONING)
_CURRENT_COUNTS = (_INPUT[0], _OUTPUT[0], _CACHE_READ[0], _CACHE_CREATION[0], _REASONING[0])
# Keys that only older or foreign spellings use: when a span has none of them, the fast path applies.
OLDER_KEYS = frozenset(USAGE_KEYS.union(_PROVIDER, _MODEL)) - frozenset(
    (*_CURRENT_COUNTS, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_RESPONSE_MODEL, A.GEN_AI_REQUEST_MODEL)
)


class Usage(NamedTuple):
    """Canonical usage of one LLM call; None means "not reported", never "zero".

    A NamedTuple rather than a frozen dataclass: it is built for every LLM span, and a frozen dataclass's
    __init__ costs several times more."""

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


_new_tuple = tuple.__new__


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
        value = attrs.get(key)
        if value is None:
            continue
        if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case, checked inline
            return value
        count, problem = _as_count(value)
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


def _fit(total: int | None, part: int, what: str, notes: list[str]) -> int | None:
    """Parts must fit inside their total; a part larger than its total is noted and the total raised."""
    if total is not None and part > total:
        notes.append(f"{what} tokens ({part}) exceed the total ({total})")
        return part
    return total


def current_usage(attrs: Mapping[str, Any]) -> Usage | None:
    """The fast path: a span in the current semconv spelling with clean values (the common case, e.g.
    from our own genai capture). None when anything needs the full treatment of ``normalize_usage``."""
    if not OLDER_KEYS.isdisjoint(attrs):
        return None
    total_in = attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS)
    total_out = attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS)
    read = attrs.get(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    write = attrs.get(A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    reasoning = attrs.get(A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
    for value in (total_in, total_out, read, write, reasoning):
        if value is not None and not (type(value) is int and 0 <= value <= MAX_TOKENS):
            return None
    if total_in is not None and (read or 0) + (write or 0) > total_in:
        return None
    if total_out is not None and (reasoning or 0) > total_out:
        return None
    provider = attrs.get(A.GEN_AI_PROVIDER_NAME)
    model = attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL)
    if (provider is not None and (type(provider) is not str or not provider.islower())) or (
        model is not None and (type(model) is not str or model != model.strip())
    ):
        return None
    # tuple.__new__ directly: half the cost of the NamedTuple's generated Python __new__.
    return _new_tuple(Usage, (total_in, total_out, read, write, reasoning, provider, model or None, ()))


def normalize_usage(attrs: Mapping[str, Any]) -> Usage:
    """Read usage, model and provider from span attributes in any accepted spelling."""
    fast = current_usage(attrs)
    if fast is not None:
        return fast
    notes: list[str] = []
    cache_read = _first_count(attrs, _CACHE_READ, notes)
    cache_creation = _first_count(attrs, _CACHE_CREATION, notes)
    reasoning = _first_count(attrs, _REASONING, notes)
    cached = (cache_read or 0) + (cache_creation or 0)
    input_tokens = _fit(_first_count(attrs, _INPUT, notes), cached, "cache", notes)
    output_tokens = _fit(_first_count(attrs, _OUTPUT, notes), reasoning or 0, "reasoning", notes)
    provider = _first_text(attrs, _PROVIDER, notes)
    model = _first_text(attrs, _MODEL, notes)
    return Usage(
        input_tokens,
        output_tokens,
        cache_read,
        cache_creation,
        reasoning,
        provider.lower() if provider else None,
        model,
        tuple(notes),
    )


_CANONICAL_KEYS = (
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_OUTPUT_TOKENS,
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    A.GEN_AI_PROVIDER_NAME,
)  # in Usage's field order


def _model_key(model: str, present: Mapping[str, Any]) -> str:
    """Whether a foreign spelling's model is the response's or only the request's."""
    responded = (present.get(A.OI_MODEL_NAME), present.get(A.TL_RESPONSE_MODEL))
    only_requested = present.get(A.TL_REQUEST_MODEL) == model and model not in responded
    return A.GEN_AI_REQUEST_MODEL if only_requested else A.GEN_AI_RESPONSE_MODEL


def canonical_attributes(usage: Usage, present: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The current-semconv attributes for a normalised usage (only fields that were reported), leaving
    out those ``present`` already has with the same value."""
    present = present or {}
    out: dict[str, Any] = {}
    for key, value in zip(_CANONICAL_KEYS, usage, strict=False):
        if value is not None and present.get(key) != value:
            out[key] = value
    if usage.model and A.GEN_AI_RESPONSE_MODEL not in present and A.GEN_AI_REQUEST_MODEL not in present:
        # A foreign spelling named the model (OpenInference llm.model_name, OpenLLMetry llm.*.model).
        out[_model_key(usage.model, present)] = usage.model
    if usage.invalid:
        out[A.USAGE_INVALID] = usage.invalid
    return out
