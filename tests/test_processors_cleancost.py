"""The priced-LLM-span shortcut (processors.cleancost) gives what the full path gives, or steps aside."""

# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from otel_agent import attributes as A
from otel_agent.pricing import PriceBook
from otel_agent.processors import enriching
from otel_agent.processors.cleancost import CleanRates, clean_cost
from otel_agent.processors.enrich import usage_and_cost
from otel_agent.usage import MAX_TOKENS
from tests.otel_capture import Captured, captured  # noqa: F401

BASE = {
    A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    A.GEN_AI_RESPONSE_MODEL: "gpt-4o",
    A.GEN_AI_USAGE_INPUT_TOKENS: 1234,
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 200,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: 321,
}
IN, OUT = A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_OUTPUT_TOKENS
READ, WRITE = A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
REASONING = A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
SONNET = {A.GEN_AI_PROVIDER_NAME: "anthropic", A.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5"}
SONNET |= {A.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5"}
UNKNOWN = {A.GEN_AI_RESPONSE_MODEL: "no-such-model-xyz", A.GEN_AI_REQUEST_MODEL: "no-such-model-xyz"}
NO_PROVIDER = {A.GEN_AI_PROVIDER_NAME: None}


def _with(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes``; a change to None removes the key."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


# Spans the shortcut must price itself (and price exactly as the full path does).
TAKEN = {
    "clean call": BASE,
    "no cache read": _with(BASE, {READ: None}),
    "cache read and write": _with(BASE, {WRITE: 34}),
    "parts fill the totals": _with(BASE, {READ: 1000, WRITE: 234, REASONING: 321}),
    "reasoning inside output": _with(BASE, {REASONING: 100}),
    "input only": _with(BASE, {OUT: None}),
    "zero tokens": _with(BASE, {IN: 0, OUT: 0, READ: 0}),
    "largest counts": _with(BASE, {IN: MAX_TOKENS, OUT: MAX_TOKENS}),
    "request model only": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: None}),
    "empty response model": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: ""}),
    "usage without an LLM operation": _with(BASE, {A.GEN_AI_OPERATION_NAME: "custom"}),
    "no provider": _with(BASE, NO_PROVIDER),
    "unknown model (unpriced)": _with(BASE, UNKNOWN),
    "tiered model below its tier": _with(BASE, SONNET),
}
# Spans the shortcut must hand to the full path (None), whatever the reason.
FULL_PATH = {
    "pair never seen": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini"}),
    "provider in capitals": _with(BASE, {A.GEN_AI_PROVIDER_NAME: "OpenAI"}),
    "model with spaces": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: " gpt-4o"}),
    "model of wrong type": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: 4}),
    "missing model": _with(BASE, {A.GEN_AI_RESPONSE_MODEL: None, A.GEN_AI_REQUEST_MODEL: None}),
    "tiered model above its tier": _with(BASE, {**SONNET, IN: 300_000}),
    "no input count": _with(BASE, {IN: None, READ: None}),
    "boolean input": _with(BASE, {IN: True}),
    "negative output": _with(BASE, {OUT: -1}),
    "huge input": _with(BASE, {IN: MAX_TOKENS + 1}),
    "huge output": _with(BASE, {OUT: MAX_TOKENS + 1}),
    "float input": _with(BASE, {IN: 1234.0}),
    "numeric string output": _with(BASE, {OUT: "321"}),
    "boolean cache read": _with(BASE, {READ: True}),
    "negative cache write": _with(BASE, {WRITE: -5}),
    "string cache write": _with(BASE, {WRITE: "5"}),
    "cache larger than input": _with(BASE, {READ: 1000, WRITE: 235}),
    "reasoning larger than output": _with(BASE, {REASONING: 322}),
    "reasoning without output": _with(BASE, {OUT: None, REASONING: 5}),
    "reasoning of wrong type": _with(BASE, {REASONING: 5.5}),
    "older spelling beside": _with(BASE, {A.GEN_AI_USAGE_PROMPT_TOKENS_LEGACY: 1234}),
    "legacy provider key": _with(BASE, {A.GEN_AI_SYSTEM_LEGACY: "openai"}),
    "openinference model key": _with(BASE, {A.OI_MODEL_NAME: "gpt-4o"}),
    "already priced upstream": _with(BASE, {A.PRICE_SOURCE: A.PRICE_SOURCE_FILE}),
    "LLM operation without usage": {A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.GEN_AI_REQUEST_MODEL: "gpt-4o"},
}


@pytest.fixture(scope="module")
def learned() -> CleanRates:
    rates = CleanRates(PriceBook())
    for attrs in (BASE, _with(BASE, NO_PROVIDER), _with(BASE, UNKNOWN), _with(BASE, SONNET)):
        rates.learn(attrs)
    assert len(rates.pairs) == 4
    return rates


@pytest.mark.parametrize("attrs", TAKEN.values(), ids=TAKEN.keys())
def test_shortcut_prices_clean_calls_exactly_as_the_full_path(learned: CleanRates, attrs: dict) -> None:
    fast = clean_cost(attrs, learned.pairs)
    assert fast is not None and A.PRICE_SOURCE in fast
    assert fast == usage_and_cost(attrs, learned.prices)  # same keys, bit-identical floats


@pytest.mark.parametrize("attrs", FULL_PATH.values(), ids=FULL_PATH.keys())
def test_shortcut_steps_aside_for_anything_else(learned: CleanRates, attrs: dict) -> None:
    assert clean_cost(attrs, learned.pairs) is None


def test_spans_without_usage_or_llm_operation_get_nothing(learned: CleanRates) -> None:
    for attrs in ({}, {"http.route": "/x"}, {A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL}):
        assert clean_cost(attrs, learned.pairs) == {} == usage_and_cost(attrs, learned.prices)


def test_only_clean_pairs_are_learned_and_the_table_is_bounded() -> None:
    rates = CleanRates(PriceBook(), max_pairs=1)
    for unclean in (
        FULL_PATH["provider in capitals"],
        FULL_PATH["older spelling beside"],
        _with(BASE, {IN: None, READ: None}),
    ):
        rates.learn(unclean)
    assert rates.pairs == {}
    rates.learn(BASE)
    rates.learn(_with(BASE, {A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini"}))
    assert list(rates.pairs) == [("openai", "gpt-4o")]


def test_learned_rates_follow_the_price_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": [{"model": "gpt-4o", "input_mtok": 1, "output_mtok": 2}]}))
    rates = CleanRates(PriceBook(path))
    rates.learn(BASE)
    fast = clean_cost(BASE, rates.pairs)
    assert fast is not None and fast[A.PRICE_SOURCE] == A.PRICE_SOURCE_FILE
    assert fast == usage_and_cost(BASE, rates.prices)


def test_processor_takes_the_full_path_once_per_pair(
    captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_path: list[dict] = []

    def counted(attrs: Any, prices: PriceBook) -> dict[str, Any]:
        full_path.append(dict(attrs))
        return usage_and_cost(attrs, prices)

    monkeypatch.setattr(enriching, "usage_and_cost", counted)
    tracer = trace.get_tracer("t")
    for name in ("first", "second", "third"):
        with tracer.start_as_current_span(name, attributes=BASE):
            pass
    assert len(full_path) == 1
    first, second, third = (dict(captured.one(n).attributes or {}) for n in ("first", "second", "third"))
    assert first == second == third and first[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES
    assert A.COST_USD in first
