from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price

from otel_agent import attributes as A
from otel_agent.pricing import PriceBook, load_price_file
from otel_agent.usage import Usage

CASES = [
    ("openai", "gpt-4o", Usage(1234, 321, 200, None, None)),
    ("openai", "gpt-4o-mini-2024-07-18", Usage(1149, 353, 1024, None, None)),
    ("anthropic", "claude-3-5-sonnet-20240620", Usage(1167, 187, 0, 1163, None)),
    ("anthropic", "claude-sonnet-4-5", Usage(300_000, 50, 1000, 10, None)),  # above the 200k tier
    ("openai", "gpt-5-nano-2025-08-07", Usage(11, 228, 0, None, 192)),
]


def _usage(provider: str, model: str, u: Usage) -> Usage:
    return Usage(
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_creation_tokens,
        u.reasoning_tokens,
        provider,
        model,
    )


@pytest.mark.parametrize(("provider", "model", "usage"), CASES)
def test_cached_rates_give_the_same_price_as_genai_prices(provider: str, model: str, usage: Usage) -> None:
    cost = PriceBook().price(_usage(provider, model, usage))
    expected = calc_price(
        GPUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens or 0,
            cache_write_tokens=usage.cache_creation_tokens or 0,
        ),
        model,
        provider_id=provider,
    )
    assert cost.source == A.PRICE_SOURCE_GENAI_PRICES
    assert cost.total_usd == pytest.approx(float(expected.total_price), rel=1e-9)
    assert cost.input_usd == pytest.approx(float(expected.input_price), rel=1e-9)


def test_known_figure_from_facts() -> None:
    cost = PriceBook().price(_usage("openai", "gpt-4o", Usage(1234, 321, 200)))
    assert cost.total_usd == pytest.approx(0.006045)


def test_semconv_provider_names_map_to_genai_prices_ids() -> None:
    cost = PriceBook().price(Usage(1000, 1000, provider="gcp.gemini", model="gemini-2.5-flash"))
    assert cost.source == A.PRICE_SOURCE_GENAI_PRICES and cost.total_usd and cost.total_usd > 0


@pytest.mark.parametrize(
    "usage",
    [
        Usage(10, 10, provider="openai", model="no-such-model-xyz"),
        Usage(10, 10, provider="no-such-provider", model="gpt-4o"),
        Usage(10, 10, provider="openai", model=None),
        Usage(None, None, provider="openai", model="gpt-4o"),
    ],
)
def test_unknown_or_incomplete_is_unpriced_never_zero(usage: Usage) -> None:
    cost = PriceBook().price(usage)
    assert cost.source == A.PRICE_SOURCE_UNPRICED and cost.total_usd is None
    assert A.COST_USD not in cost.attributes()


def test_one_slow_lookup_per_provider_and_model_even_across_threads() -> None:
    book = PriceBook()
    usage = Usage(100, 100, provider="openai", model="gpt-4o")
    threads = [threading.Thread(target=lambda: [book.price(usage) for _ in range(200)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    book.price(Usage(1, 1, provider="openai", model="nope"))
    book.price(Usage(1, 1, provider="openai", model="nope"))
    assert book.lookups == 2


def _price_file(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(content))
    return path


def test_price_file_overrides_genai_prices(tmp_path: Path) -> None:
    path = _price_file(
        tmp_path,
        {
            "prices": [
                {
                    "provider": "openai",
                    "model": "gpt-4o*",
                    "input_mtok": 1,
                    "output_mtok": 2,
                    "cache_read_mtok": 0.5,
                },
                {"model": "house-model", "input_mtok": 0, "output_mtok": 0},
            ]
        },
    )
    book = PriceBook(path)
    cost = book.price(Usage(1_000_000, 1_000_000, 500_000, provider="openai", model="gpt-4o-2024-08-06"))
    assert cost.source == A.PRICE_SOURCE_FILE
    assert cost.total_usd == pytest.approx(0.5 + 0.25 + 2)
    free = book.price(Usage(10, 10, provider="ollama", model="House-Model"))
    assert free.source == A.PRICE_SOURCE_FILE and free.total_usd == 0.0  # priced at 0 on purpose
    other = book.price(Usage(10, 10, provider="anthropic", model="claude-3-5-sonnet-20240620"))
    assert other.source == A.PRICE_SOURCE_GENAI_PRICES


def test_bad_price_file_entries_are_skipped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _price_file(
        tmp_path,
        {
            "prices": [
                {"model": "a", "input_mtok": -1},
                {"model": "", "input_mtok": 1},
                "not an object",
                {"model": "b"},
                {"model": "c", "input_mtok": "1"},
                {"model": "good", "input_mtok": 1, "output_mtok": 1},
            ]
        },
    )
    entries = load_price_file(path)
    assert [e.model for e in entries] == ["good"]
    assert caplog.text.count("skipped") == 5 and str(path) in caplog.text


@pytest.mark.parametrize("content", [b"\xff\xfe not json", b"[", b'{"prices": 3}'])
def test_unreadable_price_file_is_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(content)
    book = PriceBook(path)
    assert book.price(Usage(10, 10, provider="openai", model="gpt-4o")).source == A.PRICE_SOURCE_GENAI_PRICES
    assert str(path) in caplog.text


def test_missing_price_file_is_ignored(tmp_path: Path) -> None:
    assert load_price_file(tmp_path / "absent.json") == []
