"""End-time enrichment steps: pure functions from a finished span's attributes to what to add.

Each returns a dict of new or replaced attributes (empty when there is nothing to add); none mutates
its input. ``EnrichingSpanProcessor`` builds a new ReadableSpan only when the merged result is non-empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_agent import attributes as A
from otel_agent.errors import classify_span
from otel_agent.pricing import PriceBook
from otel_agent.usage import USAGE_KEYS, Usage, canonical_attributes, current_usage, normalize_usage

_MISSING_MODEL = "missing model: cannot price"


def usage_and_cost(attrs: Mapping[str, Any], prices: PriceBook) -> dict[str, Any]:
    """Canonical usage attributes plus cost, for a span that reports usage or is an LLM call."""
    if attrs.get(A.GEN_AI_OPERATION_NAME) not in A.LLM_OPERATIONS and USAGE_KEYS.isdisjoint(attrs):
        return {}
    if A.PRICE_SOURCE in attrs:  # already enriched upstream (e.g. by another otel-agent process)
        return {}
    usage = current_usage(attrs)
    if usage is not None and usage.model and usage.input_tokens is not None:
        # The common case, clean and priceable: the same result as _priced, built as one literal.
        source, total_usd, input_usd, output_usd = prices.price(usage)
        if total_usd is None:
            return _request_model_price(attrs, usage, prices, {}) or {A.PRICE_SOURCE: source}
        return {
            A.PRICE_SOURCE: source,
            A.COST_USD: total_usd,
            A.COST_INPUT_USD: input_usd,
            A.COST_OUTPUT_USD: output_usd,
        }
    if usage is not None:  # already canonical, nothing to rewrite
        return _priced(usage, prices, {}, attrs)
    usage = normalize_usage(attrs)
    return _priced(usage, prices, canonical_attributes(usage, attrs), attrs)


_REQUEST_MODELS = (A.GEN_AI_REQUEST_MODEL, A.OI_REQUEST_MODEL_NAME, A.TL_REQUEST_MODEL)


def request_model(attrs: Mapping[str, Any]) -> str | None:
    for key in _REQUEST_MODELS:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _request_model_price(
    attrs: Mapping[str, Any], usage: Usage, prices: PriceBook, added: dict[str, Any]
) -> dict[str, Any] | None:
    """The response model (often a dated one, gpt-4o-mini-2024-08-06) has no price: the request model's
    price, with the source saying so; None when the request model is the same or unpriced too."""
    requested = request_model(attrs)
    if not requested or requested == usage.model:
        return None
    source, total_usd, input_usd, output_usd = prices.price(usage._replace(model=requested))
    if total_usd is None:
        return None
    added.update({
        A.PRICE_SOURCE: source + A.PRICE_SOURCE_REQUEST_MODEL,
        A.COST_USD: total_usd,
        A.COST_INPUT_USD: input_usd,
        A.COST_OUTPUT_USD: output_usd,
    })  # fmt: skip
    return added


def _priced(
    usage: Usage, prices: PriceBook, added: dict[str, Any], attrs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``added`` plus the price attributes (and a note when the model is missing)."""
    if usage.input_tokens is None and usage.output_tokens is None:  # nothing to price (has_tokens)
        return added
    if not usage.model:
        added[A.USAGE_INVALID] = (*usage.invalid, _MISSING_MODEL)
    source, total_usd, input_usd, output_usd = prices.price(usage)
    if total_usd is None and usage.model and attrs is not None:
        fallback = _request_model_price(attrs, usage, prices, added)
        if fallback is not None:
            return fallback
    added[A.PRICE_SOURCE] = source
    if total_usd is not None:
        added[A.COST_USD] = total_usd
        added[A.COST_INPUT_USD] = input_usd
        added[A.COST_OUTPUT_USD] = output_usd
    return added


def error_category(attrs: Mapping[str, Any], span: ReadableSpan) -> dict[str, Any]:
    status = span.status
    if status.status_code is not StatusCode.ERROR or A.ERROR_CATEGORY in attrs:
        return {}
    return {A.ERROR_CATEGORY: classify_span(attrs, span.events, status.description)}


def run_status(attrs: Mapping[str, Any], status_code: StatusCode, category: str | None) -> dict[str, Any]:
    if status_code is not StatusCode.ERROR:
        return {A.RUN_STATUS: "succeeded"}
    return {A.RUN_STATUS: "cancelled" if category == "cancelled" else "failed"}
