"""Calls whose usage the five semconv counts cannot price, priced by genai-prices from the provider's body.

Flat per-token rates (``otel_agent.pricing``) price input, output, cache reads and cache writes. Some
responses split their usage further, and genai-prices prices those parts at their own rates: Gemini's
tokens by modality (audio, video, image; cached or not) and its tool-use prompt tokens, OpenAI's audio
tokens, Anthropic's one-hour cache writes. The wire parsers spot those cheaply (a few dict reads) and keep
the usage-bearing object; when the call ends, genai-prices' own extractor reads it and its ``calc_price``
prices it, and the cost goes on the span with ``otel_agent.price.source=genai-prices`` (the processors
then leave it as it is). About a millisecond, only for those calls. With a user price file
(``OTEL_AGENT_PRICE_FILE``) the file wins, as everywhere: the processors price such calls with its rates.
"""

from __future__ import annotations

import warnings
from typing import Any

from otel_agent import attributes as A
from otel_agent.genai.facts import CallFacts
from otel_agent.pricing import genai_prices_provider_id


def keep(facts: CallFacts, flavour: str, data: Any) -> None:
    """A parser saw usage details: remember the object that carries them (the last one wins)."""
    facts.state["details"] = (flavour, data)


def cost_attributes(facts: CallFacts, provider: str) -> dict[str, Any]:
    """The cost attributes of a call with usage details, or {} (none seen, or genai-prices cannot)."""
    kept = facts.state.get("details")
    model = facts.response_model or facts.request_model
    if kept is None or not model:
        return {}
    flavour, data = kept
    try:
        return _priced(data, flavour, genai_prices_provider_id(provider), model)
    except (LookupError, ValueError, TypeError, ArithmeticError) as exc:
        facts.note(f"usage details not priced ({type(exc).__name__})")
        return {}


def _priced(data: Any, flavour: str, provider_id: str, model: str) -> dict[str, Any]:
    from genai_prices import calc_price, data_snapshot

    snapshot = data_snapshot.get_snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extracted = snapshot.extract_usage(data, provider_id, None, flavour)
        price = calc_price(extracted.usage, model, provider_id=provider_id)
    return {
        A.PRICE_SOURCE: A.PRICE_SOURCE_GENAI_PRICES,
        A.COST_USD: float(price.total_price),
        A.COST_INPUT_USD: float(price.input_price),
        A.COST_OUTPUT_USD: float(price.output_price),
    }
