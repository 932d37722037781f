"""The fake provider itself: default replies per wire format, scripting by path, latency, stream size,
cut streams, gzip, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from otel_agent.fakeprovider import FakeProvider, Reply, replies
from otel_agent.fakeprovider.server import Received, default_reply


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/v1/chat/completions", {"model": "m"}, "application/json"),
        ("/v1/chat/completions", {"model": "m", "stream": True}, "text/event-stream"),
        ("/v1/responses", {"model": "m", "stream": True}, "text/event-stream"),
        ("/v1/embeddings", {"model": "m", "input": ["a"]}, "application/json"),
        ("/v1/messages", {"model": "m"}, "application/json"),
        ("/v1/messages", {"model": "m", "stream": True}, "text/event-stream"),
        ("/v1beta/models/g:generateContent", {}, "application/json"),
        ("/v1beta/models/g:streamGenerateContent", {}, "text/event-stream"),
    ],
)
def test_default_reply_speaks_the_path_s_wire_format(
    path: str, body: dict[str, object], content_type: str
) -> None:
    reply = default_reply(Received("POST", path, {}, json.dumps(body).encode()), replies.DEFAULT_USAGE, 0)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith(content_type)
    assert (reply.chunks is not None) == content_type.startswith("text/event-stream")


def test_unknown_path_and_bad_json_are_errors() -> None:
    assert default_reply(Received("POST", "/nope", {}, b"{}"), replies.DEFAULT_USAGE, 0).status == 404
    assert default_reply(Received("POST", "/v1/messages", {}, b"{"), replies.DEFAULT_USAGE, 0).status == 400


def test_script_is_served_in_order_and_by_path(fake: FakeProvider) -> None:
    fake.script(replies.anthropic_error("overloaded"), path_contains="/messages")
    fake.script(replies.openai_error("rate_limit"))
    with httpx.Client() as client:
        first = client.post(fake.url + "/v1/chat/completions", json={"model": "m"})
        second = client.post(fake.url + "/v1/messages", json={"model": "m"})
        third = client.post(fake.url + "/v1/messages", json={"model": "m"})
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert second.status_code == 529 and second.json()["error"]["type"] == "overloaded_error"
    assert third.status_code == 200
    assert [r.path for r in fake.requests] == ["/v1/chat/completions", "/v1/messages", "/v1/messages"]


def test_latency_stream_size_cut_and_gzip() -> None:
    with FakeProvider(latency_s=0.2, stream_bytes=100_000) as fake, httpx.Client() as client:
        started = time.monotonic()
        streamed = client.post(fake.url + "/v1/chat/completions", json={"model": "m", "stream": True})
        assert time.monotonic() - started >= 0.2
        assert 100_000 <= len(streamed.content) < 200_000
        fake.script(
            Reply(
                200,
                {"content-type": "text/event-stream"},
                chunks=(b"data: 1\n\n", b"data: 2\n\n"),
                cut_after=1,
            )
        )
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(fake.url + "/v1/chat/completions", json={"model": "m"})
        fake.script(replies.openai_chat("m").gzipped())
        zipped = client.post(fake.url + "/v1/chat/completions", json={"model": "m"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.json()["model"] == "m"


def test_command_line_prints_its_url_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_agent.fakeprovider"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(url + "/v1/messages", json={"model": "claude-x"}, timeout=10)
        assert reply.json()["model"] == "claude-x"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
