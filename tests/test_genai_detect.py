"""LLM calls to endpoints nobody configured: the real openai, anthropic and google-genai SDKs pointed at
the fake provider on arbitrary path prefixes (a LiteLLM-like gateway, vLLM, Ollama native and its /v1,
a corporate gateway), with no OTEL_AGENT_GENAI_BASE_URLS. Tokens, provider, server and cost are asserted
on the spans after the real processors ran."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from otel_agent import attributes as A
from otel_agent.fakeprovider import FakeProvider, Usage, replies
from tests.genai_support import rig

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
MESSAGES = [{"role": "user", "content": "Say hello"}]
GPT4O_COST = 0.006045  # FACTS.md: gpt-4o, 1234 input of which 200 cached, 321 output


def _serve(**kwargs: object) -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE, **kwargs) as server:  # type: ignore[arg-type]
        yield server


@pytest.fixture(scope="module")
def plain() -> Iterator[FakeProvider]:
    yield from _serve()


def chat(base_url: str, model: str = "gpt-4o", **kwargs: object) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    return client.chat.completions.create(model=model, messages=MESSAGES, **kwargs)  # type: ignore[arg-type]


def test_litellm_like_gateway_names_its_upstream_and_is_priced() -> None:
    for fake in _serve(server="litellm"):
        with rig(fake) as r:
            chat(fake.url + "/v1")
            attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "openai"  # x-litellm-model-api-base: https://api.openai.com/v1
    assert attrs[A.GENAI_SERVER] == "litellm"
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert attrs[A.COST_USD] == pytest.approx(GPT4O_COST, rel=1e-6)


def test_gateway_to_another_provider_is_priced_at_that_providers_rates() -> None:
    for fake in _serve(server="litellm", upstream="https://api.anthropic.com"):
        with rig(fake) as r:
            chat(fake.url + "/litellm", model="claude-3-5-sonnet-20240620")
            attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "anthropic"
    # claude-3-5-sonnet: $3 / $15 per MTok, cache reads $0.30: 1034 * 3 + 200 * 0.3 + 321 * 15, per million
    assert attrs[A.COST_USD] == pytest.approx((1034 * 3 + 200 * 0.3 + 321 * 15) / 1e6, rel=1e-6)


def test_unconfigured_gateway_is_named_by_the_model(plain: FakeProvider) -> None:
    with rig(plain) as r:
        reply = chat(plain.url + "/corp/llm-gateway/v1")
        attrs = r.one_llm_span()
    assert reply.usage is not None and reply.usage.prompt_tokens == 1234
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "openai"
    assert A.GENAI_SERVER not in attrs
    assert attrs[A.COST_USD] == pytest.approx(GPT4O_COST, rel=1e-6)


def test_vllm_is_named_by_its_answer_and_left_unpriced() -> None:
    for fake in _serve(server="vllm"):
        with rig(fake) as r:
            chat(fake.url + "/v1", model="meta-llama/Llama-3.1-8B-Instruct")
            attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "vllm"
    assert attrs[A.GENAI_SERVER] == "vllm"
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
    assert attrs[A.PRICE_SOURCE] == A.PRICE_SOURCE_UNPRICED  # self-hosted: never a hosted provider's price


def test_ollama_openai_compatible_v1_and_native_api() -> None:
    for fake in _serve(server="ollama"):
        with rig(fake) as r:
            chat(fake.url + "/v1", model="llama3.1:8b")
            with httpx.Client() as client:
                client.post(fake.url + "/api/chat", json={"model": "llama3.1:8b", "messages": MESSAGES})
                client.post(
                    fake.url + "/api/chat", json={"model": "llama3", "messages": MESSAGES, "stream": False}
                )
                client.post(
                    fake.url + "/api/generate", json={"model": "llama3", "prompt": "hi", "stream": False}
                )
            spans = [dict(s.attributes or {}) for s in r.llm_spans()]
    assert [s[A.GEN_AI_PROVIDER_NAME] for s in spans] == ["ollama"] * 4
    assert [s[A.GEN_AI_OPERATION_NAME] for s in spans] == ["chat", "chat", "chat", "text_completion"]
    assert [s[A.GEN_AI_USAGE_INPUT_TOKENS] for s in spans] == [1234] * 4
    assert [s[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans] == [321] * 4
    assert spans[1][A.GEN_AI_REQUEST_MODEL] == "llama3.1:8b"


def test_anthropic_sdk_on_a_gateway_prefix(plain: FakeProvider) -> None:
    with rig(plain) as r:
        client = anthropic.Anthropic(
            base_url=plain.url + "/gw/anthropic-proxy",
            api_key="k",
            max_retries=0,
            open_telemetry={"traces": False},
        )
        client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]
        with client.messages.stream(
            model="claude-3-5-sonnet-20240620",
            max_tokens=50,
            messages=MESSAGES,  # type: ignore[arg-type]
        ) as stream:
            stream.until_done()
        spans = [dict(s.attributes or {}) for s in r.llm_spans()]
    assert len(spans) == 2
    for attrs in spans:
        assert attrs[A.GEN_AI_PROVIDER_NAME] == "anthropic"
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234  # cache reads inside, as semconv counts them
        assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
        assert attrs[A.COST_USD] == pytest.approx((1034 * 3 + 200 * 0.3 + 321 * 15) / 1e6, rel=1e-6)


def test_gemini_sdk_on_another_host(plain: FakeProvider) -> None:
    from google import genai as google_genai
    from google.genai import types

    with rig(plain) as r:
        client = google_genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=plain.url + "/vertex-proxy/")
        )
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
        attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == "gemini-2.5-flash"
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert attrs[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES


def test_any_path_whose_body_is_a_chat_request(plain: FakeProvider) -> None:
    plain.script(
        replies.openai_chat("gpt-4o", USAGE), replies.anthropic_message("claude-3-5-sonnet-20240620", USAGE)
    )
    with rig(plain) as r, httpx.Client() as client:
        client.post(plain.url + "/internal/llm", json={"model": "gpt-4o", "messages": MESSAGES})
        client.post(
            plain.url + "/internal/llm",
            json={"model": "claude-3-5-sonnet-20240620", "max_tokens": 9, "messages": MESSAGES},
            headers={"anthropic-version": "2023-06-01"},
        )
        first, second = (dict(s.attributes or {}) for s in r.llm_spans())
    assert first[A.GEN_AI_PROVIDER_NAME] == "openai" and first[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert second[A.GEN_AI_PROVIDER_NAME] == "anthropic" and second[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234


@pytest.mark.parametrize(
    ("path", "provider", "operation"),
    [
        ("/api/v1/chat/completions", "openai", "chat"),  # a gateway's /api prefix is no Ollama
        ("/api/chat", "ollama", "chat"),
        ("/proxy/v1/messages", "anthropic", "chat"),
        ("/x/v1/embeddings", "openai", "embeddings"),
        ("/x/v1/responses", "openai", "chat"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gcp.gemini", "generate_content"),
        (
            "/v1/projects/p/locations/l/publishers/google/models/m:generateContent",
            "gcp.vertex_ai",
            "generate_content",
        ),
        ("/v2/chat", "cohere", "chat"),
        ("/v1/upload", None, None),
    ],
)
def test_path_shapes(path: str, provider: str | None, operation: str | None) -> None:
    from otel_agent.genai.detect import shape_route

    found = shape_route(path)
    got = (found.provider, found.operation) if found else (None, None)
    assert got == (provider, operation)


def test_the_base_url_mapping_still_wins(plain: FakeProvider) -> None:
    with rig(plain, base_urls={plain.url + "/mine": "mistral_ai"}) as r:
        chat(plain.url + "/mine/v1")
        attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "mistral_ai"
