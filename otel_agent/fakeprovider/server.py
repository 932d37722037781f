"""A fake LLM provider on 127.0.0.1 (stdlib only): answers like OpenAI, Anthropic, Gemini, Ollama by path.

Scripted replies (``FakeProvider.script``) are served first, in order; otherwise a default reply in the
wire format the path asks for, with the request's model and the server's `usage`. Every request is kept
in ``requests`` so tests can check what the client sent.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_agent.fakeprovider import bedrock
from otel_agent.fakeprovider import replies as R


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeProvider:
    """Start with ``with FakeProvider() as fake:``; ``fake.url`` is its base URL."""

    def __init__(
        self,
        port: int = 0,
        latency_s: float = 0.0,
        stream_bytes: int = 0,
        usage: R.Usage = R.DEFAULT_USAGE,
        server: str | None = None,
        upstream: str = "https://api.openai.com/v1",
    ) -> None:
        """``server``: answer as that gateway or self-hosted server would (``replies.SERVERS``); a
        LiteLLM-like gateway names ``upstream`` as the model's API base."""
        self.latency_s = latency_s
        self.server = server
        self.upstream = upstream
        self.stream_bytes = stream_bytes
        self.usage = usage
        self.requests: list[Received] = []
        self._script: deque[tuple[str, R.Reply]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProvider:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-provider", daemon=True
        )  # a short poll interval: stop() returns in 50 ms instead of 500
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: R.Reply, path_contains: str = "") -> None:
        """Queue replies for the next requests (whose path contains `path_contains`), served in order
        before the defaults."""
        with self._lock:
            self._script.extend((path_contains, reply) for reply in replies)

    def reply_for(self, received: Received) -> R.Reply:
        with self._lock:
            self.requests.append(received)
            for entry in self._script:
                if entry[0] in received.path:
                    self._script.remove(entry)
                    return entry[1]
        return R.as_server(default_reply(received, self.usage, self.stream_bytes), self.server, self.upstream)


def default_reply(received: Received, usage: R.Usage, stream_bytes: int) -> R.Reply:
    """The answer a real provider would give to this path and body (happy path)."""
    try:
        body = received.json() if received.body else {}
    except ValueError:
        return R.json_reply({"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, 400)
    path = received.path.split("?")[0]
    bedrock_reply = bedrock.reply_for(path, usage)
    if bedrock_reply is not None:
        return bedrock_reply
    model = str(body.get("model") or path.rsplit("/", 1)[-1].split(":")[0])
    stream = body.get("stream") is True
    if path.endswith("/chat/completions"):
        if stream:
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return R.openai_chat_stream(model, usage, include, stream_bytes)
        return R.openai_chat(model, usage)
    if path.endswith("/responses"):
        return (
            R.openai_responses_stream(model, usage, stream_bytes)
            if stream
            else R.openai_responses(model, usage)
        )
    if path.endswith("/embeddings"):
        inputs = body.get("input")
        return R.openai_embeddings(model, len(inputs) if isinstance(inputs, list) else 1, usage)
    if path.endswith("/messages"):
        return R.anthropic_stream(model, usage, stream_bytes) if stream else R.anthropic_message(model, usage)
    if path.endswith(":streamGenerateContent"):
        return R.gemini_stream(model, usage, stream_bytes)
    if path.endswith(":generateContent"):
        return R.gemini_generate(model, usage)
    if path.endswith(("/api/chat", "/api/generate")):
        return R.ollama_reply(model, usage, body.get("stream") is not False, path.endswith("/chat"))
    if path.endswith(("/api/embed", "/api/embeddings")):
        inputs = body.get("input")
        return R.ollama_embed(model, len(inputs) if isinstance(inputs, list) else 1, usage)
    return R.json_reply({"error": {"message": f"no such endpoint {path}", "type": "not_found"}}, 404)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.reply_for(Received("POST", self.path, headers, body))
            delay = fake.latency_s + reply.delay_s
            if delay:
                time.sleep(delay)
            send_reply(self, reply)

        do_GET = do_POST  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: tests and benchmarks do not want a line per request

    return Handler


def send_reply(handler: BaseHTTPRequestHandler, reply: R.Reply) -> None:
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    if reply.chunks is None:
        body = gzip.compress(reply.body, mtime=0) if reply.gzip else reply.body
        if reply.gzip:
            handler.send_header("content-encoding", "gzip")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return
    _send_chunked(handler, reply)


def _send_chunked(handler: BaseHTTPRequestHandler, reply: R.Reply) -> None:
    chunks = list(reply.chunks or ())
    if reply.gzip:  # one gzip stream split back into pieces of the original sizes
        whole = gzip.compress(b"".join(chunks), mtime=0)
        step = max(len(whole) // max(len(chunks), 1), 1)
        chunks = [whole[i : i + step] for i in range(0, len(whole), step)]
        handler.send_header("content-encoding", "gzip")
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    for n, chunk in enumerate(chunks):
        if reply.cut_after is not None and n >= reply.cut_after:
            handler.close_connection = True
            handler.wfile.flush()
            return  # no terminating chunk: the client sees the body end early
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if reply.chunk_delay_s:
            handler.wfile.flush()
            time.sleep(reply.chunk_delay_s)
    handler.wfile.write(b"0\r\n\r\n")
