"""Small pieces of the genai capture: settings, provider routes, the usage-chunk stripper, the scanner's
limits, content redaction, Retry-After, and enrichment of another instrumentation's span."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace

from otel_agent import attributes as A
from otel_agent.fakeprovider import FakeProvider
from otel_agent.genai import content
from otel_agent.genai.errors import retry_after_s
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.providers import provider_for, route
from otel_agent.genai.scanner import EventScanner
from otel_agent.genai.settings import GenAISettings
from otel_agent.genai.strip import UsageChunkStripper
from otel_agent.genai.wire import openai
from tests.genai_support import rig


def test_settings_from_env() -> None:
    env = {
        "OTEL_AGENT_GENAI_BASE_URLS": "http://gw.corp/v1=openai, http://gw.corp/v1/anthropic=anthropic,broken",
        "OTEL_AGENT_GENAI_STREAM_USAGE": "true",
        "OTEL_AGENT_GENAI_CONTENT_MAX_BYTES": "not-a-number",
    }
    settings = GenAISettings.from_env(env)
    assert list(settings.base_urls) == ["http://gw.corp/v1/anthropic", "http://gw.corp/v1"]  # longest first
    assert settings.stream_usage == "all"
    assert settings.content_max_bytes == 8192  # bad value: logged, default kept
    assert GenAISettings.from_env({}).enabled is True


@pytest.mark.parametrize(
    ("url", "provider", "operation"),
    [
        ("https://api.openai.com/v1/chat/completions", "openai", "chat"),
        ("https://api.deepseek.com/chat/completions", "deepseek", "chat"),
        ("https://api.x.ai/v1/responses", "x_ai", "chat"),
        ("https://openrouter.ai/api/v1/chat/completions", "openrouter", "chat"),
        (
            "https://r.openai.azure.com/openai/deployments/d/embeddings?api-version=1",
            "azure.ai.openai",
            "embeddings",
        ),
        ("https://generativelanguage.googleapis.com/v1beta/openai/chat/completions", "gcp.gemini", "chat"),
        ("http://localhost:11434/api/generate", "ollama", "text_completion"),
        ("http://gw.corp/v1/chat/completions", "vllm", "chat"),
    ],
)
def test_routes(url: str, provider: str, operation: str) -> None:
    parsed = httpx.URL(url)
    found = provider_for(parsed.host, parsed.port, url, {"http://gw.corp": "vllm"})
    assert found == provider
    matched = route(found, parsed.path)
    assert matched is not None and matched.operation == operation


def test_unknown_hosts_and_paths_are_not_llm_calls() -> None:
    assert provider_for("example.com", None, "", {}) is None
    assert route("openai", "/v1/files") is None
    assert route("anthropic", "/v1/messages/count_tokens") is None


def test_stripper_removes_only_the_usage_chunk_across_chunk_boundaries() -> None:
    events = [
        b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
        b'data: {"choices":[],"usage":{"x":1}}\n\n',
    ]
    stream = b"".join(events) + b"data: [DONE]\n\n"
    for size in (1, 5, 13, len(stream)):
        stripper = UsageChunkStripper()
        out = (
            b"".join(stripper.feed(stream[i : i + size]) for i in range(0, len(stream), size))
            + stripper.flush()
        )
        assert out == events[0] + b"data: [DONE]\n\n"


def test_scanner_skips_an_oversized_event_and_says_so() -> None:
    facts = CallFacts("openai", "chat")
    scanner = EventScanner(openai.CHAT, facts, max_event_bytes=1024)
    scanner.feed(b'data: {"id":"a","model":"m"}\n\n')
    scanner.feed(b'data: {"x":"' + b"y" * 5000)
    scanner.feed(b'"}\n\ndata: {"choices":[{"index":0,"finish_reason":"stop"}]}\n\n')
    scanner.finish()
    assert facts.response_model == "m"
    assert facts.finish_reasons == ["stop"]
    assert facts.capture_errors == ["stream event over 1024 bytes not read"]


def test_content_redaction_and_cap() -> None:
    text = content.input_content(
        {
            "messages": [{"content": "key sk-ant-abcdefghijklmnopqrstuvwxyz and AIza" + "B" * 35}],
            "api_key": "x",
        },
        max_bytes=30,
    )
    assert text is not None and "sk-ant" not in text and "AIza" not in text
    assert text.endswith("...[truncated]")


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_s({}) is None


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def test_another_instrumentations_span_is_enriched_not_doubled(fake: FakeProvider) -> None:
    """openai-v2 / OpenLLMetry style: a current CLIENT span with gen_ai.system wraps the HTTP call."""
    with rig(fake) as r, httpx.Client() as client:
        tracer = r.provider.get_tracer("openllmetry-like")
        with tracer.start_as_current_span("openai.chat", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute(A.GEN_AI_SYSTEM_LEGACY, "openai")
            client.post(fake.url + "/openai/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
        spans = r.spans()
    assert [s.name for s in spans] == ["openai.chat"]
    attrs = dict(spans[0].attributes or {})
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[A.GEN_AI_RESPONSE_MODEL] == "gpt-4o"


def test_disabled_capture_installs_nothing(fake: FakeProvider) -> None:
    from otel_agent import genai

    assert genai.instrument(GenAISettings(enabled=False)) == []
    assert not genai.is_instrumented()


def test_a_bug_in_the_capture_never_reaches_the_application(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail open: a parser that raises is counted; the app gets its response, streamed or not."""
    from otel_agent import guard
    from otel_agent.genai import body, call

    def broken(*args: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(body.BodyReader, "feed", broken)
    monkeypatch.setattr(call, "read_whole", broken)
    guard.reraise_in_tests(False)
    before = guard.failure_counts()
    try:
        with rig(fake) as r, httpx.Client() as client:
            whole = client.post(fake.url + "/openai/v1/chat/completions", json={"model": "gpt-4o"})
            with client.stream(
                "POST", fake.url + "/openai/v1/chat/completions", json={"model": "gpt-4o", "stream": True}
            ) as streamed:
                chunks = b"".join(streamed.iter_raw())
            spans = r.llm_spans()
            assert len(spans) == 2  # both spans ended, and say why they know little
            for span in spans:
                assert "capture failed (RuntimeError)" in (span.attributes or {})[A.CAPTURE_ERROR]
    finally:
        guard.reraise_in_tests(None)
    assert whole.json()["model"] == "gpt-4o"
    assert chunks.endswith(b"data: [DONE]\n\n")
    after = guard.failure_counts()
    assert after.get("genai.capture", 0) > before.get("genai.capture", 0)
    assert after.get("genai.stream", 0) > before.get("genai.stream", 0)


def test_ollama_ndjson_stream(fake: FakeProvider) -> None:
    from otel_agent.fakeprovider import Reply

    lines = [
        b'{"model":"llama3.1","created_at":"t","message":{"role":"assistant","content":"Hi"},"done":false}\n',
        b'{"model":"llama3.1","message":{"role":"assistant","content":" there"},"done":false}\n',
        b'{"model":"llama3.1","created_at":"t","message":{"role":"assistant","content":""},"done":true,'
        b'"done_reason":"stop","prompt_eval_count":26,"eval_count":298}\n',
    ]
    fake.script(Reply(200, {"content-type": "application/x-ndjson"}, chunks=tuple(lines)))
    with rig(fake, base_urls={fake.url + "/ollama": "ollama"}) as r, httpx.Client() as client:
        body = {"model": "llama3.1", "messages": [], "stream": True}
        with client.stream("POST", fake.url + "/ollama/api/chat", json=body) as response:
            got = b"".join(response.iter_raw())
        attrs = r.one_llm_span()
    assert got == b"".join(lines)
    assert (attrs[A.GEN_AI_PROVIDER_NAME], attrs[A.GEN_AI_RESPONSE_MODEL]) == ("ollama", "llama3.1")
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (26, 298)
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[A.TIME_TO_FIRST_CHUNK_S] > 0
