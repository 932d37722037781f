"""The real openai and anthropic SDKs, sync and async, streamed and not, against the fake provider on
127.0.0.1: tokens, models, cost and errors are asserted on the spans after the real processors ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from otel_agent import attributes as A
from otel_agent.fakeprovider import FakeProvider, Usage, replies
from tests.genai_support import Rig, rig
from tests.services import missing

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


@pytest.fixture
def r(fake: FakeProvider) -> Iterator[Rig]:
    fake.requests.clear()
    with rig(fake) as instrumented:
        yield instrumented


def openai_client(r: Rig) -> openai.OpenAI:
    return openai.OpenAI(base_url=r.openai_url, api_key="sk-test-key-do-not-record", max_retries=0)


def anthropic_client(r: Rig, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=r.anthropic_url, api_key="sk-ant-test", max_retries=0, **kwargs)


def assert_priced_openai_call(attrs: dict[str, object]) -> None:
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert attrs[A.GEN_AI_RESPONSE_MODEL] == "gpt-4o"
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
    assert attrs[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES
    # FACTS.md: gpt-4o, 1234 input of which 200 cached, 321 output = $0.006045
    assert attrs[A.COST_USD] == pytest.approx(0.006045, rel=1e-6)


def test_openai_chat_sync(r: Rig) -> None:
    reply = openai_client(r).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.usage is not None and reply.usage.prompt_tokens == 1234
    attrs = r.one_llm_span()
    assert_priced_openai_call(attrs)
    assert attrs[A.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[A.GEN_AI_RESPONSE_ID] == "chatcmpl-fake"
    assert attrs[A.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[A.RETRY_ATTEMPT] == 0
    assert r.llm_spans()[0].name == "chat gpt-4o"
    assert not any("sk-test" in str(v) for v in attrs.values())


def test_openai_chat_stream_with_usage_sync(r: Rig) -> None:
    stream = openai_client(r).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert r.llm_spans() == []  # the span lives until the stream is consumed
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("Hello")
    attrs = r.one_llm_span()
    assert_priced_openai_call(attrs)
    assert attrs[A.GEN_AI_REQUEST_STREAM] is True
    assert attrs[A.TIME_TO_FIRST_CHUNK_S] > 0
    assert A.CAPTURE_ERROR not in attrs


async def test_openai_chat_async_and_stream(r: Rig) -> None:
    client = openai.AsyncOpenAI(base_url=r.openai_url, api_key="sk-test", max_retries=0)
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for _ in stream:
        pass
    spans = r.llm_spans()
    assert len(spans) == 2
    for span in spans:
        assert_priced_openai_call(dict(span.attributes or {}))


def test_openai_responses_and_embeddings(r: Rig) -> None:
    client = openai_client(r)
    client.responses.create(model="gpt-4o", input="hi")
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    chat, streamed, embeddings = r.llm_spans()
    assert_priced_openai_call(dict(chat.attributes or {}))
    assert_priced_openai_call(dict(streamed.attributes or {}))
    attrs = dict(embeddings.attributes or {})
    assert attrs[A.GEN_AI_OPERATION_NAME] == "embeddings"
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert attrs[A.COST_USD] > 0


def test_openai_stream_without_usage_is_marked_by_no_tokens(fake: FakeProvider) -> None:
    with rig(fake, stream_usage="off") as r:
        for _ in openai_client(r).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass
        attrs = r.one_llm_span()
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_openai_stream_gets_usage_by_default(r: Rig) -> None:
    chunks = list(openai_client(r).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)  # the app sees no usage chunk
    assert_priced_openai_call(r.one_llm_span())


def test_anthropic_sync_and_stream(r: Rig) -> None:
    client = anthropic_client(r, open_telemetry={"traces": False})
    message = client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=50, messages=MESSAGES)
    assert message.usage.input_tokens == 1034  # Anthropic's own count excludes cache reads
    with client.messages.stream(
        model="claude-3-5-sonnet-20240620", max_tokens=50, messages=MESSAGES
    ) as stream:
        assert stream.get_final_text().startswith("Hello")
    spans = r.llm_spans()
    assert len(spans) == 2
    for span in spans:
        attrs = dict(span.attributes or {})
        assert attrs[A.GEN_AI_PROVIDER_NAME] == "anthropic"
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234  # semconv: cache reads inside input
        assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
        assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
        assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
        assert attrs[A.COST_USD] > 0


async def test_anthropic_async_stream(r: Rig) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=r.anthropic_url, api_key="k", max_retries=0, open_telemetry={"traces": False}
    )
    stream = await client.messages.create(
        model="claude-3-5-sonnet-20240620", max_tokens=50, messages=MESSAGES, stream=True
    )
    async for _ in stream:
        pass
    attrs = r.one_llm_span()
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
    assert attrs[A.TIME_TO_FIRST_CHUNK_S] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_span_is_enriched_not_doubled(r: Rig, stream: bool) -> None:
    client = anthropic_client(r, open_telemetry={"tracer_provider": r.provider})
    kwargs = {"model": "claude-3-5-sonnet-20240620", "max_tokens": 50, "messages": MESSAGES}
    if stream:
        for _ in client.messages.create(stream=True, **kwargs):
            pass
    else:
        client.messages.create(**kwargs)
    spans = r.llm_spans()
    assert [s.instrumentation_scope.name for s in spans] == ["com.anthropic.sdk.python"]
    attrs = dict(spans[0].attributes or {})
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
    assert attrs[A.COST_USD] > 0


@pytest.mark.parametrize(
    ("kind", "error_class", "category"),
    [
        ("rate_limit", openai.RateLimitError, "rate_limit"),
        ("context_length", openai.BadRequestError, "context_length"),
        ("auth", openai.AuthenticationError, "auth"),
        ("server", openai.InternalServerError, "provider_error"),
    ],
)
def test_openai_errors_are_classified(r: Rig, kind: str, error_class: type, category: str) -> None:
    r.fake.script(replies.openai_error(kind))
    with pytest.raises(error_class):
        openai_client(r).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = r.llm_spans()
    assert len(spans) == 1
    attrs = dict(spans[0].attributes or {})
    assert attrs[A.ERROR_CATEGORY] == category
    assert spans[0].status.is_ok is False
    if kind == "rate_limit":
        assert attrs[A.ERROR_TYPE] == "rate_limit_exceeded"
        assert attrs[A.RETRY_AFTER_S] == 2.0


@pytest.mark.parametrize(
    ("kind", "category", "error_type"),
    [("overloaded", "provider_error", "overloaded_error"), ("context_length", "context_length", None)],
)
def test_anthropic_errors_are_classified(r: Rig, kind: str, category: str, error_type: str | None) -> None:
    r.fake.script(replies.anthropic_error(kind))
    with pytest.raises(anthropic.APIStatusError):
        anthropic_client(r, open_telemetry={"traces": False}).messages.create(
            model="claude-3-5-sonnet-20240620", max_tokens=5, messages=MESSAGES
        )
    attrs = r.one_llm_span()
    assert attrs[A.ERROR_CATEGORY] == category
    if error_type:
        assert attrs[A.ERROR_TYPE] == error_type


def test_sdk_retries_are_separate_attempts(r: Rig) -> None:
    fast_429 = replies.json_reply(
        {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
        429,
        {"retry-after-ms": "10"},
    )
    r.fake.script(fast_429, fast_429)
    client = openai.OpenAI(base_url=r.openai_url, api_key="k", max_retries=2)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = sorted(r.llm_spans(), key=lambda s: s.start_time or 0)
    attempts = [(s.attributes or {}).get(A.RETRY_ATTEMPT) for s in spans]
    assert attempts == [0, 1, 2]
    assert [(s.attributes or {}).get(A.ERROR_CATEGORY) for s in spans] == ["rate_limit", "rate_limit", None]
    assert (spans[-1].attributes or {})[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234


def google_genai() -> Any:
    try:
        from google import genai as google_genai_module
    except ImportError:
        missing("google-genai is not installed (pip install -e '.[dev]')")
    return google_genai_module


async def test_google_genai_sync_async_stream(r: Rig) -> None:
    gg = google_genai()
    client = gg.Client(api_key="k", http_options=gg.types.HttpOptions(base_url=r.gemini_url))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
        pass
    await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    async for _ in await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
        pass
    spans = r.llm_spans()
    assert len(spans) == 4
    for span in spans:
        attrs = dict(span.attributes or {})
        assert span.name == "generate_content gemini-2.5-flash"
        assert attrs[A.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
        assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
        assert attrs[A.COST_USD] > 0
    assert sum(1 for s in spans if (s.attributes or {}).get(A.TIME_TO_FIRST_CHUNK_S)) == 2


def test_retried_attempt_on_a_foreign_span_is_an_event(r: Rig) -> None:
    limited = replies.json_reply(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        429,
        {"retry-after-ms": "10"},
    )
    r.fake.script(limited, path_contains="/anthropic/")
    client = anthropic.Anthropic(
        base_url=r.anthropic_url, api_key="k", max_retries=1, open_telemetry={"tracer_provider": r.provider}
    )
    client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=5, messages=MESSAGES)
    (span,) = r.llm_spans()
    events = [e for e in span.events if e.name == "otel_agent.genai.attempt"]
    assert [(e.attributes or {}).get(A.ERROR_CATEGORY) for e in events] == ["rate_limit"]
    attrs = dict(span.attributes or {})
    # The foreign span is the whole call, not its last attempt: it stays attempt 0, so it counts as a call
    # (a retry attempt > 0 is "the same call again"); its attempts are the events above.
    assert attrs[A.RETRY_ATTEMPT] == 0
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234
    assert A.ERROR_CATEGORY not in attrs
