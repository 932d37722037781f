"""Cost in USD from normalised usage: genai-prices, a per-(provider, model) cache, a user price file.

A raw genai-prices lookup costs tens of microseconds, so each (provider, model) is looked up once and
compiled into plain per-token float rates; pricing a span afterwards is a dict hit and a few multiplies.
Tiered prices (e.g. long-context surcharges) keep the base rate below the first tier and fall back to
genai-prices' own arithmetic above it.

The user price file (``OTEL_AGENT_PRICE_FILE``, JSON) overrides genai-prices::

    {"prices": [{"provider": "openai", "model": "gpt-4o*", "input_mtok": 2.5, "output_mtok": 10,
                 "cache_read_mtok": 1.25, "cache_write_mtok": 3.75}]}

``provider`` may be ``"*"`` or omitted, ``model`` may use shell wildcards. Rates are USD per million
tokens. A bad entry is logged (naming the file and entry) and skipped; the others still apply.

An unknown model gives ``PRICE_SOURCE_UNPRICED`` with no cost attribute: never a silent 0.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from otel_agent import attributes as A
from otel_agent.usage import Usage

_log = logging.getLogger(__name__)

# GenAI semconv provider names -> genai-prices provider ids (names that match already are omitted).
_PROVIDER_IDS = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}


def genai_prices_provider_id(provider: str) -> str:
    """The genai-prices provider id for a semconv provider name (most are the same)."""
    return _PROVIDER_IDS.get(provider, provider)


class Cost(NamedTuple):
    """The price of one call; ``total_usd`` is None when unpriced (a NamedTuple: built per LLM span)."""

    source: str
    total_usd: float | None = None
    input_usd: float | None = None
    output_usd: float | None = None

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {A.PRICE_SOURCE: self.source}
        if self.total_usd is not None:
            out[A.COST_USD] = self.total_usd
            out[A.COST_INPUT_USD] = self.input_usd
            out[A.COST_OUTPUT_USD] = self.output_usd
        return out


UNPRICED = Cost(source=A.PRICE_SOURCE_UNPRICED)
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token, compiled once per (provider, model)."""

    source: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    # Above this many input tokens the price is tiered: defer to ``slow`` (genai-prices' own maths).
    tier_start: int | None = None
    slow: Callable[[Usage], Cost] | None = None

    def price(self, usage: Usage) -> Cost:
        total_in = usage.input_tokens or 0
        if self.tier_start is not None and total_in >= self.tier_start and self.slow is not None:
            return self.slow(usage)
        read = usage.cache_read_tokens or 0
        write = usage.cache_creation_tokens or 0
        uncached = total_in - read - write
        input_usd = (uncached if uncached > 0 else 0) * self.input
        if read:  # most calls read or write no cache: skip the multiplications that would add 0.0
            input_usd += read * self.cache_read
        if write:
            input_usd += write * self.cache_write
        output_usd = (usage.output_tokens or 0) * self.output  # reasoning is inside output
        # tuple.__new__ directly: half the cost of the NamedTuple's generated Python __new__.
        return _new_tuple(Cost, (self.source, input_usd + output_usd, input_usd, output_usd))


# A cache default meaning "not looked up yet" (None in the cache means "looked up: no price").
_NOT_CACHED = Rates("", 0.0, 0.0, 0.0, 0.0)


def _per_token(mtok: Any) -> float | None:
    return None if mtok is None else float(mtok) / 1_000_000


def _rates_from_mtok(entry: dict[str, Any], source: str) -> Rates:
    input_rate = _per_token(entry.get("input_mtok")) or 0.0
    return Rates(
        source=source,
        input=input_rate,
        output=_per_token(entry.get("output_mtok")) or 0.0,
        cache_read=_per_token(entry.get("cache_read_mtok")) or input_rate,
        cache_write=_per_token(entry.get("cache_write_mtok")) or input_rate,
    )


def genai_prices_usage(usage: Usage) -> Any:
    from genai_prices import Usage as GPUsage

    return GPUsage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=usage.cache_read_tokens or 0,
        cache_write_tokens=usage.cache_creation_tokens or 0,
    )


def _base_and_tier(price: Any) -> tuple[Decimal | None, int | None]:
    """A genai-prices price is a Decimal, None, or TieredPrices(base, tiers)."""
    if price is None or isinstance(price, Decimal):
        return price, None
    tiers = getattr(price, "tiers", None) or []
    return price.base, min((t.start for t in tiers), default=None)


def _rates_from_model_price(model_price: Any) -> Rates:
    entry: dict[str, Any] = {}
    tier_starts: list[int] = []
    for key in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"):
        base, tier = _base_and_tier(getattr(model_price, key, None))
        entry[key] = base
        if tier is not None:
            tier_starts.append(tier)
    rates = _rates_from_mtok(entry, A.PRICE_SOURCE_GENAI_PRICES)
    if not tier_starts:
        return rates

    def slow(usage: Usage) -> Cost:
        calc = model_price.calc_price(genai_prices_usage(usage))
        return Cost(
            A.PRICE_SOURCE_GENAI_PRICES,
            float(calc["total_price"]),
            float(calc["input_price"]),
            float(calc["output_price"]),
        )

    return Rates(
        rates.source, rates.input, rates.output, rates.cache_read, rates.cache_write, min(tier_starts), slow
    )


def lookup_genai_prices(provider: str | None, model: str) -> Rates | None:
    """One genai-prices lookup (slow: call through ``PriceBook``, which caches it)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    provider_id = _PROVIDER_IDS.get(provider, provider) if provider else None
    try:
        # Without a provider genai-prices guesses one from the model name; with one it never strays,
        # so a local "llama3" on Ollama is unpriced rather than priced as some hosted llama.
        _, model_info = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _rates_from_model_price(model_info.get_prices(_now()))


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(tz=timezone.utc)


@dataclass(frozen=True, slots=True)
class FileEntry:
    provider: str  # "*" for any
    model: str  # shell wildcard pattern, lower case
    rates: Rates

    def matches(self, provider: str | None, model: str) -> bool:
        provider_ok = self.provider == "*" or self.provider == (provider or "")
        return provider_ok and fnmatch.fnmatchcase(model, self.model)


_RATE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


def _parse_entry(raw: Any) -> FileEntry:
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' must be a non-empty string")
    for key in _RATE_KEYS:
        value = raw.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise ValueError(f"{key!r} must be a non-negative number, got {value!r}")
    if raw.get("input_mtok") is None and raw.get("output_mtok") is None:
        raise ValueError("needs 'input_mtok' or 'output_mtok'")
    provider = str(raw.get("provider") or "*").lower()
    return FileEntry(provider, model.lower(), _rates_from_mtok(raw, A.PRICE_SOURCE_FILE))


def load_price_file(path: str | Path) -> list[FileEntry]:
    """Parse a price file; unreadable files and bad entries are logged and skipped, never raised."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _log.error("otel-agent price file %s unreadable, ignored: %s", path, exc)
        return []
    raw_entries = data.get("prices") if isinstance(data, dict) else data
    if not isinstance(raw_entries, list):
        _log.error('otel-agent price file %s: expected {"prices": [...]}, ignored', path)
        return []
    entries = []
    for index, raw in enumerate(raw_entries):
        try:
            entries.append(_parse_entry(raw))
        except ValueError as exc:
            _log.error("otel-agent price file %s: entry %d skipped: %s", path, index, exc)
    return entries


class PriceBook:
    """Prices calls; at most one slow lookup per (provider, model), whatever the thread count."""

    def __init__(self, price_file: str | Path | None = None, use_genai_prices: bool = True) -> None:
        self._file_entries = load_price_file(price_file) if price_file else []
        self._use_genai_prices = use_genai_prices
        self._cache: dict[tuple[str | None, str], Rates | None] = {}
        self._lock = threading.Lock()
        self.lookups = 0  # slow lookups done: the benchmark and tests check it stays one per model

    def rates_for(self, provider: str | None, model: str) -> Rates | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._cache:
                self.lookups += 1
                self._cache[key] = self._lookup(provider, model.lower())
            return self._cache[key]

    def _lookup(self, provider: str | None, model: str) -> Rates | None:
        for entry in self._file_entries:
            if entry.matches(provider, model):
                return entry.rates
        if not self._use_genai_prices:
            return None
        return lookup_genai_prices(provider, model)

    def price(self, usage: Usage) -> Cost:
        """The cost of one call; UNPRICED when the model is missing or unknown."""
        model = usage.model
        if not model or (usage.input_tokens is None and usage.output_tokens is None):
            return UNPRICED
        rates = self._cache.get((usage.provider, model), _NOT_CACHED)  # rates_for's hit, inlined
        if rates is _NOT_CACHED:
            rates = self.rates_for(usage.provider, model)
        return UNPRICED if rates is None else rates.price(usage)
