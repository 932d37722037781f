"""The cost we record equals genai-prices' own, in every case it covers.

Each recorded exchange (tests/fixtures/providers) is replayed over HTTP through the capture and the real
processors; the span's cost is compared with what genai-prices computes from the same response body with
its own usage extraction (``extract_usage``) and ``calc_price``. Streams are compared on their last usage
event. A Gemini exchange with cached audio and video (usage split by modality) and Anthropic one-hour
cache writes, which flat per-token rates cannot price, are checked the same way.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from genai_prices import calc_price, data_snapshot

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.fakeprovider import FakeProvider, replies
from otel_agent.pricing import genai_prices_provider_id
from tests.genai_support import rig

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
PROVIDERS = {"gemini": "gcp.gemini", "azure_openai": "azure.ai.openai", "mistral": "mistral_ai"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def _flavour(path: str, provider_id: str) -> str:
    if path.endswith("/responses"):
        return "responses"
    if path.endswith(("/embeddings", "/embed")):
        return "embeddings"
    if path.endswith("/chat/completions") and provider_id in ("openai", "azure", "deepseek", "openrouter"):
        return "chat"
    return "default"


def _usage_object(fixture: dict[str, Any]) -> Any:
    """The JSON body, or a stream's last event that carries usage (what genai-prices can read)."""
    body = fixture["response"]["body"]
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except ValueError:
        pass
    events = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
    decoded = [json.loads(data) for data in events if data.startswith("{")]
    kinds = {event.get("type") for event in decoded}
    if "message_start" in kinds:  # Anthropic: the start's usage completed by message_delta's
        message = next(e["message"] for e in decoded if e.get("type") == "message_start")
        usage = dict(message["usage"])
        for event in decoded:
            if event.get("type") == "message_delta":
                usage.update(event.get("usage") or {})
        return {**message, "usage": usage}
    if "message-end" in kinds:  # Cohere: usage in message-end's delta
        return next(e["delta"] for e in decoded if e.get("type") == "message-end")
    for data in reversed(events):
        if data.startswith("{") and ('"usage"' in data or '"usageMetadata"' in data):
            parsed = json.loads(data)
            return parsed.get("response", parsed) if isinstance(parsed.get("response"), dict) else parsed
    return None


def genai_prices_cost(data: Any, provider: str, path: str, model: str) -> float | None:
    provider_id = genai_prices_provider_id(provider)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            usage = data_snapshot.get_snapshot().extract_usage(
                data, provider_id, None, _flavour(path, provider_id)
            )
            return float(calc_price(usage.usage, model, provider_id=provider_id).total_price)
        except (LookupError, ValueError):
            return None


def replay(
    fake: FakeProvider, folder: str, path: str, request_body: Any, reply: replies.Reply
) -> dict[str, Any]:
    provider = PROVIDERS.get(folder, folder)
    fake.script(reply)
    content = (request_body if isinstance(request_body, str) else json.dumps(request_body)).encode()
    with rig(fake) as r, httpx.Client() as client:
        genai.instrument(
            genai.GenAISettings(), tracer_provider=r.provider, base_urls={f"{fake.url}/{folder}": provider}
        )
        client.post(f"{fake.url}/{folder}{path}", content=content).read()
        return r.one_llm_span()


def priced_fixtures() -> list[str]:
    names = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        fixture = json.loads(path.read_text())
        if fixture["response"]["status"] == 200 and path.parent.name != "ollama":  # genai-prices: no ollama
            names.append(f"{path.parent.name}/{path.stem}")
    return names


@pytest.mark.parametrize("name", priced_fixtures())
def test_recorded_exchange_costs_what_genai_prices_says(fake: FakeProvider, name: str) -> None:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    folder = name.split("/")[0]
    path = httpx.URL(fixture["request"]["url"]).raw_path.decode()
    attrs = replay(fake, folder, path, fixture["request"]["body"], replies.from_fixture(fixture))
    data = _usage_object(fixture)
    model = attrs.get(A.GEN_AI_RESPONSE_MODEL) or attrs.get(A.GEN_AI_REQUEST_MODEL)
    expected = genai_prices_cost(data, PROVIDERS.get(folder, folder), path.split("?")[0], str(model))
    if expected is None:  # genai-prices cannot price it either (a stream it cannot read, an unknown model)
        pytest.skip(f"genai-prices does not price {name}")
    assert attrs[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES
    assert attrs[A.COST_USD] == pytest.approx(expected, rel=1e-9, abs=1e-15)


GEMINI_AUDIO_VIDEO = {
    "candidates": [
        {"content": {"parts": [{"text": "A cat."}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {
        "promptTokenCount": 12000,
        "candidatesTokenCount": 300,
        "totalTokenCount": 12500,
        "cachedContentTokenCount": 9000,
        "thoughtsTokenCount": 200,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 1000},
            {"modality": "AUDIO", "tokenCount": 5000},
            {"modality": "VIDEO", "tokenCount": 6000},
        ],
        "cacheTokensDetails": [
            {"modality": "AUDIO", "tokenCount": 4000},
            {"modality": "VIDEO", "tokenCount": 5000},
        ],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 300}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "fake-multimodal",
}


def test_gemini_usage_split_by_modality_is_priced_as_genai_prices_prices_it(fake: FakeProvider) -> None:
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    attrs = replay(fake, "gemini", path, {"contents": []}, replies.json_reply(GEMINI_AUDIO_VIDEO))
    expected = genai_prices_cost(GEMINI_AUDIO_VIDEO, "gcp.gemini", path, "gemini-2.5-flash")
    assert expected is not None
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12000
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 9000
    assert attrs[A.COST_USD] == pytest.approx(expected, rel=1e-9)
    # Flat text rates (the same usage without its modality split) would give another figure.
    meta: dict[str, Any] = GEMINI_AUDIO_VIDEO["usageMetadata"]  # type: ignore[assignment]
    text_only = {**GEMINI_AUDIO_VIDEO, "usageMetadata": {k: v for k, v in meta.items() if "Details" not in k}}
    flat = genai_prices_cost(text_only, "gcp.gemini", path, "gemini-2.5-flash")
    assert flat is not None and flat != pytest.approx(expected, rel=1e-3)


def test_anthropic_one_hour_cache_writes_are_priced_as_genai_prices_prices_them(fake: FakeProvider) -> None:
    body = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 3000,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "output_tokens": 50,
        },
    }
    attrs = replay(fake, "anthropic", "/v1/messages", {"model": body["model"]}, replies.json_reply(body))
    expected = genai_prices_cost(body, "anthropic", "/v1/messages", "claude-sonnet-4-20250514")
    assert expected is not None
    assert attrs[A.COST_USD] == pytest.approx(expected, rel=1e-9)


def test_cohere_cached_tokens_are_recorded(fake: FakeProvider) -> None:
    body = {
        "id": "c1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        "usage": {
            "billed_units": {"input_tokens": 500, "output_tokens": 20},
            "tokens": {"input_tokens": 560, "output_tokens": 21},
            "cached_tokens": 384,
        },
    }
    attrs = replay(fake, "cohere", "/v2/chat", {"model": "command-r-plus"}, replies.json_reply(body))
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 500
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 384
    expected = genai_prices_cost(body, "cohere", "/v2/chat", "command-r-plus")
    assert expected is not None and attrs[A.COST_USD] == pytest.approx(expected, rel=1e-9)
