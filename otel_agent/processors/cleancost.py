"""The priced-LLM-span shortcut: usage and cost of a clean current-semconv call in one function.

Most LLM spans (our genai capture's, contrib instrumentations') carry usage in the current spelling with
clean values and a (provider, model) pair seen many times before. For them ``clean_cost`` gives exactly
what ``enrich.usage_and_cost`` would, with one dict lookup for the rates and no Usage or Cost objects.
Anything it is not sure of returns None and takes the full path (``usage_and_cost``), which is the
reference: tests/test_processors_cleancost.py checks both agree on clean and odd spans alike.

Why the pair table makes the provider and model checks unnecessary: ``CleanRates.learn`` only records a
pair after ``current_usage`` accepted it (provider None or a lower-case str, model a non-empty stripped
str), and a str only equals a str, so a hit means the span's provider and model are the clean values seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_agent import attributes as A
from otel_agent.pricing import PriceBook, Rates
from otel_agent.usage import MAX_TOKENS, OLDER_KEYS, USAGE_KEYS, current_usage

# A span with any of these takes the full path: an older or foreign spelling, or a price set upstream.
_FULL_PATH_KEYS = OLDER_KEYS | {A.PRICE_SOURCE}
_MISSING: Any = object()  # "pair never learned" (None in the table means "learned: no price")
MAX_PAIRS = 10_000  # bound on the table; past it, new pairs keep taking the full path


class CleanRates:
    """Rates of (provider, model) pairs that have been seen clean, read without a lock (one dict)."""

    def __init__(self, prices: PriceBook, max_pairs: int = MAX_PAIRS) -> None:
        self.prices = prices
        self.pairs: dict[tuple[Any, Any], Rates | None] = {}
        self._max_pairs = max_pairs

    def learn(self, attrs: Mapping[str, Any]) -> None:
        """Record the span's pair if the full path would have priced it as a clean call."""
        usage = current_usage(attrs)
        if usage is None or not usage.model or usage.input_tokens is None:
            return
        rates = self.prices.rates_for(usage.provider, usage.model)
        if rates is None and attrs.get(A.GEN_AI_REQUEST_MODEL) not in (None, usage.model):
            return  # unpriced under its response model: the full path tries the request model's price
        if len(self.pairs) < self._max_pairs:  # one dict store: atomic under the GIL
            self.pairs[(usage.provider, usage.model)] = rates


def clean_cost(attrs: Mapping[str, Any], pairs: dict[tuple[Any, Any], Rates | None]) -> dict[str, Any] | None:
    """{} for a span with no usage and no LLM operation, the cost attributes of a clean call with a
    learned pair, None when the full path must decide. Long on purpose: one frame for the hot path."""
    if attrs.get(A.GEN_AI_OPERATION_NAME) not in A.LLM_OPERATIONS and USAGE_KEYS.isdisjoint(attrs):
        return {}
    model = attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL)
    if type(model) is not str:  # also keeps unhashable values away from the table
        return None
    rates = pairs.get((attrs.get(A.GEN_AI_PROVIDER_NAME), model), _MISSING)
    if rates is _MISSING or not _FULL_PATH_KEYS.isdisjoint(attrs):
        return None
    total_in = attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS)
    total_out = attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS)
    read = attrs.get(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    write = attrs.get(A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    reasoning = attrs.get(A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
    # Counts: clean ints (never bool: type() is int), parts inside their totals, as current_usage asks.
    if type(total_in) is not int or not 0 <= total_in <= MAX_TOKENS:
        return None
    if total_out is None:
        total_out = 0  # the reasoning check below then sends any reasoning count to the full path
    elif type(total_out) is not int or not 0 <= total_out <= MAX_TOKENS:
        return None
    if read is None:
        read = 0
    elif type(read) is not int or read < 0:
        return None
    if write is None:
        write = 0
    elif type(write) is not int or write < 0:
        return None
    if reasoning is not None and (type(reasoning) is not int or not 0 <= reasoning <= total_out):
        return None
    uncached = total_in - read - write
    if uncached < 0:
        return None
    if rates is None:
        return {A.PRICE_SOURCE: A.PRICE_SOURCE_UNPRICED}
    if rates.tier_start is not None and total_in >= rates.tier_start:
        return None  # tiered price: genai-prices' own arithmetic, on the full path
    # The same arithmetic, in the same order, as Rates.price: identical floats.
    input_usd = uncached * rates.input
    if read:
        input_usd += read * rates.cache_read
    if write:
        input_usd += write * rates.cache_write
    output_usd = total_out * rates.output
    return {
        A.PRICE_SOURCE: rates.source,
        A.COST_USD: input_usd + output_usd,
        A.COST_INPUT_USD: input_usd,
        A.COST_OUTPUT_USD: output_usd,
    }
