"""Credits: cost in the product's own unit, beside USD.

Two ways to define them, the per-model one first:

* per-model credit prices in the price file (``OTEL_AGENT_PRICE_FILE``), credits per million tokens::

      {"credits_per_usd": 100,
       "prices": [{"model": "gpt-4o*", "input_mtok": 2.5, "output_mtok": 10,
                   "credits_input_mtok": 300, "credits_output_mtok": 1200}]}

  cache reads and writes count at the input credit price (they are inside the input tokens);
* a flat rate: ``credits_per_usd`` in that file, or ``OTEL_AGENT_CREDITS_PER_USD`` (the setting wins):
  credits = cost in USD x the rate.

Neither set: no credits are computed (nothing is added to spans). A bad entry is logged and skipped.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_agent import attributes as A

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CreditRates:
    provider: str  # "*" for any
    model: str  # shell wildcard, lower case
    input: float  # credits per token
    output: float


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return None
    return float(value)


def load_credit_prices(path: str | Path) -> tuple[float | None, list[CreditRates]]:
    """The price file's ``credits_per_usd`` and per-model credit prices; errors are logged, not raised."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, []  # the price book logs an unreadable file already
    if not isinstance(data, dict):
        return None, []
    per_usd = _number(data.get("credits_per_usd"))
    if "credits_per_usd" in data and per_usd is None:
        _log.error("otel-agent price file %s: credits_per_usd must be a non-negative number; ignored", path)
    rates = []
    for index, entry in enumerate(data.get("prices") or []):
        if isinstance(entry, dict) and ("credits_input_mtok" in entry or "credits_output_mtok" in entry):
            parsed = _entry(entry)
            if parsed is None:
                _log.error("otel-agent price file %s: entry %d's credit prices skipped", path, index)
            else:
                rates.append(parsed)
    return per_usd, rates


def _entry(entry: Mapping[str, Any]) -> CreditRates | None:
    model = entry.get("model")
    cin = _number(entry.get("credits_input_mtok", 0))
    cout = _number(entry.get("credits_output_mtok", 0))
    if not isinstance(model, str) or not model or cin is None or cout is None:
        return None
    provider = str(entry.get("provider") or "*").lower()
    return CreditRates(provider, model.lower(), cin / 1_000_000, cout / 1_000_000)


class CreditBook:
    """Adds ``otel_agent.cost.credits`` to a priced call; ``from_settings`` is None when credits are off."""

    def __init__(self, per_usd: float | None, rates: list[CreditRates]) -> None:
        self.per_usd = per_usd
        self.rates = rates
        self._cache: dict[tuple[Any, Any], CreditRates | None] = {}

    @classmethod
    def from_settings(cls, credits_per_usd: float | None, price_file: str | None) -> CreditBook | None:
        file_per_usd, rates = load_credit_prices(price_file) if price_file else (None, [])
        per_usd = credits_per_usd if credits_per_usd is not None else file_per_usd
        return cls(per_usd, rates) if per_usd is not None or rates else None

    def _rates_for(self, provider: Any, model: Any) -> CreditRates | None:
        key = (provider, model)
        if key not in self._cache:
            name = str(model or "").lower()
            found = [
                r for r in self.rates if r.provider in ("*", provider) and fnmatch.fnmatchcase(name, r.model)
            ]
            self._cache[key] = found[0] if found and model else None
        return self._cache[key]

    def credits(self, attrs: Mapping[str, Any]) -> float | None:
        """Credits for one call from its enriched attributes; None when it cannot be said."""
        model = attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL)
        rates = self._rates_for(attrs.get(A.GEN_AI_PROVIDER_NAME), model) if self.rates else None
        if rates is not None:
            tokens_in = attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS) or 0
            tokens_out = attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS) or 0
            return tokens_in * rates.input + tokens_out * rates.output
        cost = attrs.get(A.COST_USD)
        if self.per_usd is None or not isinstance(cost, (int, float)):
            return None
        return cost * self.per_usd
