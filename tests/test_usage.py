from __future__ import annotations

import pytest

from otel_agent import attributes as A
from otel_agent.usage import MAX_TOKENS, canonical_attributes, normalize_usage

CURRENT = {
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
    A.GEN_AI_USAGE_INPUT_TOKENS: 1149,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: 353,
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
    A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
}
DEPRECATED = {
    "gen_ai.system": "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    "gen_ai.usage.prompt_tokens": 1149,
    "gen_ai.usage.completion_tokens": 353,
}
OPENINFERENCE = {
    "llm.provider": "OpenAI",
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.prompt": 1149,
    "llm.token_count.completion": 353,
    "llm.token_count.total": 1502,
    "llm.token_count.prompt_details.cache_read": 1024,
    "llm.token_count.completion_details.reasoning": 100,
}
OPENLLMETRY = {
    "gen_ai.system": "Anthropic",
    "gen_ai.request.model": "claude-3-5-sonnet-20240620",
    "gen_ai.usage.prompt_tokens": 1167,
    "gen_ai.usage.completion_tokens": 187,
    "gen_ai.usage.cache_creation_input_tokens": 1163,
    "llm.usage.total_tokens": 1354,
}


def test_current_semconv_spelling() -> None:
    usage = normalize_usage(CURRENT)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (1149, 353, 1024)
    assert usage.reasoning_tokens == 0 and usage.provider == "openai"
    assert usage.model == "gpt-4o-mini-2024-07-18"  # response model beats request model
    assert usage.invalid == ()


def test_deprecated_semconv_spelling() -> None:
    usage = normalize_usage(DEPRECATED)
    assert (usage.input_tokens, usage.output_tokens, usage.provider, usage.model) == (
        1149,
        353,
        "openai",
        "gpt-4o-mini",
    )


def test_openinference_spelling_keeps_parts_inside_totals() -> None:
    usage = normalize_usage(OPENINFERENCE)
    assert (usage.input_tokens, usage.output_tokens) == (1149, 353)  # not 1149 + 1024
    assert (usage.cache_read_tokens, usage.reasoning_tokens) == (1024, 100)
    assert usage.provider == "openai" and usage.model == "gpt-4o-mini"


def test_openllmetry_spelling() -> None:
    usage = normalize_usage(OPENLLMETRY)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_creation_tokens) == (1167, 187, 1163)
    assert usage.provider == "anthropic"


def test_current_spelling_wins_over_older_ones() -> None:
    usage = normalize_usage({**DEPRECATED, A.GEN_AI_USAGE_INPUT_TOKENS: 7, A.GEN_AI_PROVIDER_NAME: "groq"})
    assert usage.input_tokens == 7 and usage.output_tokens == 353 and usage.provider == "groq"


def test_canonical_attributes_use_current_names_only() -> None:
    out = canonical_attributes(normalize_usage(OPENINFERENCE))
    assert out[A.GEN_AI_USAGE_INPUT_TOKENS] == 1149
    assert out[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 100
    assert all(k.startswith("gen_ai.") for k in out)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (-5, "is negative"),
        (MAX_TOKENS + 1, "is too large"),
        (True, "is a boolean"),
        (b"\xff\xfe", "has type bytes"),
        (12.5, "is not a whole number"),
        (float("nan"), "is not a whole number"),
        ([1, 2], "has type list"),
    ],
)
def test_bad_values_are_dropped_and_noted(value: object, why: str) -> None:
    usage = normalize_usage({A.GEN_AI_USAGE_INPUT_TOKENS: value, A.GEN_AI_USAGE_OUTPUT_TOKENS: 3})
    assert usage.input_tokens is None and usage.output_tokens == 3
    assert any(why in note for note in usage.invalid), usage.invalid
    assert A.USAGE_INVALID in canonical_attributes(usage)


def test_bad_current_value_falls_back_to_a_good_older_one() -> None:
    usage = normalize_usage({A.GEN_AI_USAGE_INPUT_TOKENS: -1, "gen_ai.usage.prompt_tokens": 10})
    assert usage.input_tokens == 10 and len(usage.invalid) == 1


def test_numeric_strings_and_whole_floats_are_read() -> None:
    usage = normalize_usage({A.GEN_AI_USAGE_INPUT_TOKENS: " 42 ", A.GEN_AI_USAGE_OUTPUT_TOKENS: 7.0})
    assert (usage.input_tokens, usage.output_tokens, usage.invalid) == (42, 7, ())


def test_parts_larger_than_totals_are_noted_and_never_double_counted() -> None:
    usage = normalize_usage(
        {
            A.GEN_AI_USAGE_INPUT_TOKENS: 4,  # Anthropic's raw input_tokens excludes cache: an upstream bug
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1163,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
            A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 20,
        }
    )
    assert usage.input_tokens == 1163 and usage.output_tokens == 20
    assert len(usage.invalid) == 2


def test_model_and_provider_of_wrong_type_are_noted() -> None:
    usage = normalize_usage(
        {A.GEN_AI_REQUEST_MODEL: 5, A.GEN_AI_PROVIDER_NAME: b"x", A.GEN_AI_USAGE_INPUT_TOKENS: 1}
    )
    assert usage.model is None and usage.provider is None and len(usage.invalid) == 2


def test_no_usage_at_all() -> None:
    usage = normalize_usage({"http.method": "GET"})
    assert not usage.has_tokens and canonical_attributes(usage) == {}
