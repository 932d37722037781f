"""Bad and odd input: the application reads exactly the bytes (or gets exactly the error) it would have got
without the capture, and the span says what could not be read. Real httpx and httpx2 clients, real server."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.fakeprovider import FakeProvider, Reply, replies
from tests.genai_expectations import EXPECTED
from tests.genai_support import Rig, rig
from tests.services import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
CHAT = "/openai/v1/chat/completions"
MESSAGES = "/anthropic/v1/messages"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}

SSE_OK = replies.openai_chat_stream("gpt-4o", include_usage=True)
CASES: dict[str, tuple[str, Reply, str | None]] = {
    # name: (path, reply, expected capture note (substring) or None)
    "truncated json": (
        CHAT,
        Reply(200, body=b'{"id": "x", "usage": {"prompt_tok'),
        "response body is not JSON",
    ),
    "html error page from a proxy": (
        CHAT,
        Reply(502, {"content-type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"),
        "error body is HTML",
    ),
    "empty body": (CHAT, Reply(200, body=b""), "response body is empty"),
    "missing usage": (CHAT, replies.json_reply({"id": "x", "model": "gpt-4o", "choices": []}), None),
    "gzip json": (CHAT, replies.openai_chat("gpt-4o").gzipped(), None),
    "gzip sse": (CHAT, SSE_OK.gzipped(), None),
    "unknown event types": (
        MESSAGES,
        replies.sse_reply(
            [("brand_new_event", {"type": "brand_new_event", "x": [1, 2]}), ("ping", {"type": "ping"})]
        ),
        None,
    ),
    "stream ends mid-event": (
        CHAT,
        Reply(
            200,
            {"content-type": "text/event-stream"},
            chunks=(b'data: {"id":"a","model":"gpt-4o"}\n\n', b'data: {"id":'),
        ),
        "stream ended mid-event",
    ),
    "not json events": (
        CHAT,
        Reply(200, {"content-type": "text/event-stream"}, chunks=(b"data: hello\n\n",)),
        "unreadable stream event",
    ),
    "brotli body": (
        CHAT,
        Reply(200, {"content-type": "application/json", "content-encoding": "br"}, b"\x0b\x02\x80{}\x03"),
        "content-encoding br not read",
    ),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def read_with(module: Any, url: str, reply: Reply, fake: FakeProvider, stream: bool) -> tuple[Any, bytes]:
    """What the application gets: (exception type or status, raw bytes read)."""
    fake.script(reply)
    with module.Client(timeout=5) as client:
        try:
            if stream:
                with client.stream("POST", url, json=BODY) as response:
                    return response.status_code, b"".join(response.iter_raw())
            response = client.post(url, json=BODY)
            return response.status_code, response.content
        except Exception as exc:  # the app's view includes the exception it gets
            return type(exc), b""


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_app_gets_the_same_bytes_and_span_says_what_was_unreadable(
    fake: FakeProvider, case: str, module: Any, stream: bool
) -> None:
    path, reply, note = CASES[case]
    url = fake.url + path
    without = read_with(module, url, reply, fake, stream)
    with rig(fake) as r:
        got = read_with(module, url, reply, fake, stream)
        assert got == without
        attrs = r.one_llm_span()
    if note is None:
        assert A.CAPTURE_ERROR not in attrs, attrs[A.CAPTURE_ERROR]
    else:
        assert note in attrs[A.CAPTURE_ERROR]


def test_stream_cut_mid_way_raises_the_same_error_and_ends_the_span(fake: FakeProvider) -> None:
    cut = Reply(200, {"content-type": "text/event-stream"}, chunks=SSE_OK.chunks, cut_after=2)
    without = read_with(httpx, fake.url + CHAT, cut, fake, stream=True)
    assert without[0] is httpx.RemoteProtocolError
    with rig(fake) as r:
        assert read_with(httpx, fake.url + CHAT, cut, fake, stream=True) == without
        attrs = r.one_llm_span()
    assert attrs[A.ERROR_TYPE] == "httpx.RemoteProtocolError"
    assert attrs[A.ERROR_CATEGORY] == "provider_error"


def test_read_timeout_mid_stream_ends_span_as_timeout(fake: FakeProvider) -> None:
    slow = Reply(200, {"content-type": "text/event-stream"}, chunks=SSE_OK.chunks, chunk_delay_s=0.3)
    with rig(fake) as r, httpx.Client(timeout=httpx.Timeout(5, read=0.05)) as client:
        fake.script(slow)
        with pytest.raises(httpx.ReadTimeout), client.stream("POST", fake.url + CHAT, json=BODY) as response:
            for _ in response.iter_raw():
                pass
        attrs = r.one_llm_span()
    assert attrs[A.ERROR_CATEGORY] == "timeout"


def test_connect_failure_ends_span_and_reraises(fake: FakeProvider) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with rig(fake, base_urls={dead + "/openai": "openai"}) as r, httpx.Client(timeout=1) as client:
        with pytest.raises(httpx.ConnectError):
            client.post(dead + CHAT, json=BODY)
        attrs = r.one_llm_span()
    assert attrs[A.ERROR_TYPE] == "httpx.ConnectError"
    assert attrs[A.ERROR_CATEGORY] == "provider_error"


def test_closed_and_abandoned_streams_end_their_spans(fake: FakeProvider) -> None:
    with rig(fake) as r, httpx.Client() as client:
        fake.script(SSE_OK, SSE_OK)
        with client.stream("POST", fake.url + CHAT, json=BODY) as response:
            next(response.iter_raw(16))
        assert len(r.llm_spans()) == 1
        assert "closed by the application" in r.llm_spans()[0].attributes[A.CAPTURE_ERROR]  # type: ignore[index]
        response = client.send(client.build_request("POST", fake.url + CHAT, json=BODY), stream=True)
        del response
        gc.collect()
        assert len(r.llm_spans()) == 2


def test_requests_that_are_no_llm_call_are_left_alone(fake: FakeProvider) -> None:
    """GETs, POSTs to other paths, and shaped paths whose body names no model (a web app's own chat)."""
    with rig(fake) as r, httpx.Client() as client:
        fake.script(*[replies.json_reply({"ok": True})] * 5)
        client.post(fake.url + "/not-a-provider/v1/upload", json={"name": "x", "size": 3})
        client.post(fake.url + "/app/api/chat", json={"messages": [{"text": "hi"}]})
        client.post(fake.url + "/app/chat/completions", content=b"plain text")
        client.get(fake.url + CHAT)
        client.post(fake.url + "/app/form", data={"model": "gpt-4o", "messages": "hi"})
        assert r.spans() == []

    with rig(fake, detect=False) as r, httpx.Client() as client:
        fake.script(replies.json_reply({"ok": True}))
        client.post(fake.url + "/not-a-provider/v1/chat/completions", json=BODY)
        assert r.spans() == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_exchanges_replayed_over_http(fake: FakeProvider, name: str) -> None:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    folder = name.split("/")[0]
    original = httpx.URL(fixture["request"]["url"])
    url = f"{fake.url}/{folder}{original.raw_path.decode()}"
    body = fixture["request"]["body"]
    content = (body if isinstance(body, str) else json.dumps(body)).encode()
    provider = {"gemini": "gcp.gemini", "azure_openai": "azure.ai.openai", "mistral": "mistral_ai"}.get(
        folder, folder
    )
    fake.script(replies.from_fixture(fixture))
    with rig(fake) as r, httpx.Client() as client:
        genai.instrument(
            genai.GenAISettings(), tracer_provider=r.provider, base_urls={f"{fake.url}/{folder}": provider}
        )
        with client.stream("POST", url, content=content) as response:
            got = b"".join(response.iter_raw())
        attrs = r.one_llm_span()
    raw = fixture["response"]["body"]
    assert got == (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    expected = EXPECTED[name]
    if "in" in expected:
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == expected["in"]
    if "out" in expected:
        assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == expected["out"]
    if "error" in expected:
        assert attrs[A.ERROR_CATEGORY] == expected["error"][1]


def test_stream_usage_by_default_asks_for_usage_and_hides_that_chunk(fake: FakeProvider) -> None:
    import openai

    def chunks(r: Rig) -> list[dict[str, Any]]:
        client = openai.OpenAI(base_url=r.openai_url, api_key="k", max_retries=0)
        stream = client.chat.completions.create(model="gpt-4o", messages=BODY["messages"], stream=True)
        return [c.model_dump(exclude={"usage"}) for c in stream]

    with rig(fake, stream_usage="off") as plain:
        without = chunks(plain)
        assert A.GEN_AI_USAGE_INPUT_TOKENS not in plain.one_llm_span()
    assert "stream_options" not in fake.requests[-1].json()
    with rig(fake) as r:  # the default: auto, and the rig maps this URL to openai (documented to accept it)
        got = chunks(r)
        attrs = r.one_llm_span()
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert got == without
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert A.CAPTURE_ERROR not in attrs


def test_stream_usage_the_app_asked_for_reaches_the_app(fake: FakeProvider) -> None:
    import openai

    with rig(fake) as r:
        client = openai.OpenAI(base_url=r.openai_url, api_key="k", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o", messages=BODY["messages"], stream=True, stream_options={"include_usage": True}
        )
        usages = [c.usage for c in stream if c.usage is not None]
        assert r.one_llm_span()[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert len(usages) == 1 and usages[0].prompt_tokens == 12


def test_stream_usage_unknown_servers_are_asked_only_when_told(fake: FakeProvider) -> None:
    """A server recognised by its requests' shape alone may refuse an unknown field: auto leaves it."""

    def read(r: Rig) -> bytes:
        with (
            httpx.Client() as client,
            client.stream("POST", fake.url + "/vllm/v1/chat/completions", json=BODY) as response,
        ):
            return b"".join(response.iter_raw())

    with rig(fake) as r:
        auto = read(r)
        assert A.GEN_AI_USAGE_INPUT_TOKENS not in r.one_llm_span()
    assert "stream_options" not in fake.requests[-1].json()
    with rig(fake, stream_usage="all") as r:
        asked = read(r)
        assert r.one_llm_span()[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert asked.replace(b',"usage":null', b"") == auto


def test_content_is_off_by_default_and_redacted_when_on(fake: FakeProvider) -> None:
    secret = "sk-abcdefghijklmnopqrstuvwxyz123456"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"my key is {secret}"}]}
    with rig(fake) as r, httpx.Client() as client:
        client.post(fake.url + CHAT, json=body, headers={"authorization": f"Bearer {secret}"})
        off = r.one_llm_span()
    assert A.GEN_AI_INPUT_MESSAGES not in off and A.GEN_AI_OUTPUT_MESSAGES not in off
    with rig(fake, capture_content=True, content_max_bytes=4000) as r, httpx.Client() as client:
        client.post(fake.url + CHAT, json=body, headers={"authorization": f"Bearer {secret}"})
        on = r.one_llm_span()
    assert "my key is [REDACTED]" in on[A.GEN_AI_INPUT_MESSAGES]
    assert "Hello from the fake provider" in on[A.GEN_AI_OUTPUT_MESSAGES]
    assert not any(secret in str(value) for value in on.values())


async def test_stream_usage_async_raw_bytes(fake: FakeProvider) -> None:
    """httpx2's async client read as raw bytes: the same bytes minus exactly the usage chunk."""

    async def read(r: Rig) -> bytes:
        async with (
            httpx2.AsyncClient() as client,
            client.stream("POST", fake.url + CHAT, json=BODY) as response,
        ):
            return b"".join([chunk async for chunk in response.aiter_raw()])

    with rig(fake, stream_usage="off") as plain:
        without = await read(plain)
    with rig(fake) as r:
        got = await read(r)
        attrs = r.one_llm_span()
    assert b'"choices":[]' not in got
    assert got.replace(b',"usage":null', b"") == without  # the provider's own nulls stay
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
