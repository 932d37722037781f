"""Responses in the OpenAI, Anthropic and Gemini wire formats (JSON and SSE), including their errors.

Every builder returns a `Reply`; the server sends it as is. Token counts are explicit so tests can assert
them exactly; text is padded when a stream of a given size is wanted (benchmarks).
"""

from __future__ import annotations

import gzip as gzip_module
import json
from dataclasses import dataclass, field, replace
from typing import Any

TEXT = "Hello from the fake provider."
SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 12
    output_tokens: int = 7
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response. `chunks` (if set) are sent one by one with chunked encoding."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": JSON})
    body: bytes = b""
    chunks: tuple[bytes, ...] | None = None
    delay_s: float = 0.0  # before the status line
    chunk_delay_s: float = 0.0  # between chunks
    cut_after: int | None = None  # close the connection after this many chunks (a stream cut mid-way)
    gzip: bool = False

    def gzipped(self) -> Reply:
        return replace(self, gzip=True)


DEFAULT_USAGE = Usage()


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"content-type": JSON, **(headers or {})}, json.dumps(obj).encode())


def sse_reply(events: list[tuple[str | None, Any]], done: bool = False, **kwargs: Any) -> Reply:
    """SSE events as (event name or None, JSON-able data)."""
    chunks = [_sse(name, data) for name, data in events]
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return Reply(200, {"content-type": SSE}, chunks=tuple(chunks), **kwargs)


def _sse(name: str | None, data: Any) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def pieces(text: str, stream_bytes: int) -> list[str]:
    """The text split into small deltas; repeated until the stream is about `stream_bytes` long."""
    words = [w + " " for w in text.split(" ")]
    if stream_bytes <= 0:
        return words
    out: list[str] = []
    size = 0
    while size < stream_bytes:
        out.extend(words)
        size += sum(len(w) for w in words) + 120 * len(words)  # ~120 bytes of framing per event
    return out


def gzip_body(data: bytes) -> bytes:
    return gzip_module.compress(data)


# --- OpenAI ------------------------------------------------------------------------------------------
def openai_chat(model: str, usage: Usage = Usage(), text: str = TEXT) -> Reply:
    return json_reply(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": _openai_usage(usage),
        }
    )


def _openai_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def openai_chat_stream(
    model: str, usage: Usage = Usage(), include_usage: bool = False, stream_bytes: int = 0, text: str = TEXT
) -> Reply:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": piece})) for piece in pieces(text, stream_bytes)]
    events.append((None, chunk({}, "stop")))
    if include_usage:
        events.append((None, {**chunk({}), "choices": [], "usage": _openai_usage(usage)}))
    return sse_reply(events, done=True)


def openai_responses(model: str, usage: Usage = Usage(), text: str = TEXT) -> Reply:
    return json_reply(_response_object(model, usage, text, "completed"))


def _response_object(model: str, usage: Usage | None, text: str, status: str) -> dict[str, Any]:
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_fake",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None
        if usage is None
        else {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    }


def openai_responses_stream(
    model: str, usage: Usage = Usage(), stream_bytes: int = 0, text: str = TEXT
) -> Reply:
    created = _response_object(model, None, "", "in_progress")
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "response": created})
    ]
    for n, piece in enumerate(pieces(text, stream_bytes)):
        delta = {
            "type": "response.output_text.delta",
            "item_id": "msg_fake",
            "output_index": 0,
            "content_index": 0,
            "delta": piece,
            "sequence_number": n + 1,
        }
        events.append(("response.output_text.delta", delta))
    done = _response_object(model, usage, text, "completed")
    events.append(("response.completed", {"type": "response.completed", "response": done}))
    return sse_reply(events)


def openai_embeddings(model: str, inputs: int = 1, usage: Usage = Usage(output_tokens=0)) -> Reply:
    data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(inputs)]
    return json_reply(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
        }
    )


def openai_error(kind: str) -> Reply:
    table: dict[str, tuple[int, str, str, str, dict[str, str]]] = {
        "rate_limit": (
            429,
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests",
            {"retry-after": "2"},
        ),
        "context_length": (
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. "
            "However, your messages resulted in 130000 tokens.",
            {},
        ),
        "auth": (
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: sk-fake***.",
            {},
        ),
        "server": (
            500,
            "server_error",
            "server_error",
            "The server had an error processing your request.",
            {},
        ),
        "overloaded": (503, "server_error", "overloaded", "The engine is currently overloaded.", {}),
    }
    status, kind_name, code, message, headers = table[kind]
    body = {"error": {"message": message, "type": kind_name, "param": None, "code": code}}
    return json_reply(body, status, headers)


# --- Anthropic ---------------------------------------------------------------------------------------
def anthropic_message(model: str, usage: Usage = Usage(), text: str = TEXT) -> Reply:
    return json_reply(_anthropic_message(model, usage, text, "end_turn"))


def _anthropic_usage(usage: Usage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens - usage.cache_read_tokens,  # Anthropic excludes cache reads
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def _anthropic_message(model: str, usage: Usage, text: str, stop: str | None) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _anthropic_usage(usage, usage.output_tokens if stop else 1),
    }


def anthropic_stream(model: str, usage: Usage = Usage(), stream_bytes: int = 0, text: str = TEXT) -> Reply:
    start = {"type": "message_start", "message": _anthropic_message(model, usage, "", None)}
    events: list[tuple[str | None, Any]] = [
        ("message_start", start),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in pieces(text, stream_bytes):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        events.append(("content_block_delta", delta))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse_reply(events)


def anthropic_error(kind: str) -> Reply:
    status, kind_name, message, headers = {
        "rate_limit": (
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
            {"retry-after": "2"},
        ),
        "context_length": (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            {},
        ),
        "auth": (401, "authentication_error", "invalid x-api-key", {}),
        "server": (500, "api_error", "Internal server error", {}),
        "overloaded": (529, "overloaded_error", "Overloaded", {}),
    }[kind]
    return json_reply({"type": "error", "error": {"type": kind_name, "message": message}}, status, headers)


# --- Gemini ------------------------------------------------------------------------------------------
def _gemini_chunk(model: str, text: str, usage: Usage, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    meta = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning_tokens,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.reasoning_tokens:
        meta["thoughtsTokenCount"] = usage.reasoning_tokens
    return {
        "candidates": [candidate],
        "usageMetadata": meta,
        "modelVersion": model,
        "responseId": "fake-resp",
    }


def gemini_generate(model: str, usage: Usage = Usage(), text: str = TEXT) -> Reply:
    return json_reply(_gemini_chunk(model, text, usage, "STOP"))


def gemini_stream(model: str, usage: Usage = Usage(), stream_bytes: int = 0, text: str = TEXT) -> Reply:
    parts = pieces(text, stream_bytes)
    events: list[tuple[str | None, Any]] = [
        (None, _gemini_chunk(model, piece, usage, "STOP" if n == len(parts) - 1 else None))
        for n, piece in enumerate(parts)
    ]
    return sse_reply(events)


def gemini_error(kind: str) -> Reply:
    table: dict[str, tuple[int, str, str, dict[str, str]]] = {
        "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", {}),
        "context_length": (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            {},
        ),
        "auth": (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", {}),
        "server": (500, "INTERNAL", "An internal error has occurred.", {}),
        "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", {}),
    }
    status, name, message, headers = table[kind]
    return json_reply({"error": {"code": status, "message": message, "status": name}}, status, headers)


# --- Ollama (native API) -------------------------------------------------------------------------------
def _ollama_object(model: str, usage: Usage, text: str, done: bool, chat: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": "2026-12-02T10:00:00Z", "done": done}
    if chat:
        body["message"] = {"role": "assistant", "content": text}
    else:
        body["response"] = text
    if done:
        body.update(done_reason="stop", prompt_eval_count=usage.input_tokens, eval_count=usage.output_tokens)
    return body


def ollama_reply(model: str, usage: Usage = Usage(), stream: bool = True, chat: bool = True) -> Reply:
    """/api/chat or /api/generate: one JSON object, or NDJSON lines ending with done: true (the default)."""
    if not stream:
        return json_reply(_ollama_object(model, usage, TEXT, True, chat))
    lines = [_ollama_object(model, usage, piece, False, chat) for piece in pieces(TEXT, 0)]
    lines.append(_ollama_object(model, usage, "", True, chat))
    chunks = tuple(json.dumps(line).encode() + b"\n" for line in lines)
    return Reply(200, {"content-type": "application/x-ndjson"}, chunks=chunks)


def ollama_embed(model: str, inputs: int, usage: Usage) -> Reply:
    return json_reply(
        {"model": model, "embeddings": [[0.1, 0.2, 0.3]] * inputs, "prompt_eval_count": usage.input_tokens}
    )


# --- what gateways and self-hosted servers add ---------------------------------------------------------
SERVERS = ("litellm", "vllm", "ollama", "llama_cpp")


def as_server(reply: Reply, server: str | None, upstream: str = "https://api.openai.com/v1") -> Reply:
    """The reply as a gateway or self-hosted OpenAI-compatible server dresses it (JSON bodies only for
    the body fingerprints): LiteLLM's x-litellm-* headers, Ollama's system_fingerprint, llama.cpp's
    timings, vLLM's per-choice stop_reason."""
    if server is None:
        return reply
    if server == "litellm":
        headers = {
            **reply.headers,
            "x-litellm-version": "1.80.0",
            "x-litellm-call-id": "fake-call",
            "x-litellm-model-api-base": upstream,
        }
        return replace(reply, headers=headers)
    if reply.chunks is not None or not reply.body.startswith(b"{"):
        return reply
    body = json.loads(reply.body)
    if server == "ollama":
        body["system_fingerprint"] = "fp_ollama"
    elif server == "llama_cpp":
        body["system_fingerprint"] = "b7000-fake"
        body["timings"] = {"prompt_n": 12, "predicted_n": 7}
    elif server == "vllm":
        for choice in body.get("choices") or []:
            choice["stop_reason"] = None
        body["prompt_logprobs"] = None
    return replace(reply, body=json.dumps(body).encode())


def from_fixture(fixture: dict[str, Any]) -> Reply:
    """Replay a recorded exchange (tests/fixtures/providers/*.json): SSE/NDJSON bodies go out in chunks."""
    response = fixture["response"]
    headers: dict[str, str] = {k.lower(): v for k, v in response["headers"].items()} or {"content-type": JSON}
    raw = response["body"]
    body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    if "event-stream" in headers.get("content-type", "") or "ndjson" in headers.get("content-type", ""):
        size = 512
        return Reply(
            response["status"], headers, chunks=tuple(body[i : i + size] for i in range(0, len(body), size))
        )
    return Reply(response["status"], headers, body)
