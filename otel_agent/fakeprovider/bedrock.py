"""Bedrock Runtime's wire format for the fake provider: Converse (JSON), ConverseStream (the binary
``application/vnd.amazon.eventstream`` framing) and InvokeModel (the model family's own JSON body, with
Bedrock's token-count headers). Paths: ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``.

The event-stream frames are written here (the fake is the server; the capture reads them with botocore's
own parser): prelude (total length, headers length, CRC32 of those 8 bytes), headers (name length, name,
type 7 = string, value length, value), payload, CRC32 of everything before it.
"""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any
from urllib.parse import unquote

from otel_agent.fakeprovider.replies import TEXT, Reply, Usage, json_reply, pieces

EVENT_STREAM = "application/vnd.amazon.eventstream"


def frame(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = b"".join(
        _header(name, value)
        for name, value in (
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        )
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def _usage(usage: Usage) -> dict[str, int]:
    uncached = usage.input_tokens - usage.cache_read_tokens  # Bedrock's inputTokens exclude cache reads
    return {
        "inputTokens": uncached,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.input_tokens + usage.output_tokens,
        "cacheReadInputTokens": usage.cache_read_tokens,
        "cacheWriteInputTokens": 0,
    }


def converse(usage: Usage) -> Reply:
    return json_reply(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": TEXT}]}},
            "stopReason": "end_turn",
            "usage": _usage(usage),
            "metrics": {"latencyMs": 5},
        }
    )


def converse_stream(usage: Usage) -> Reply:
    chunks = [frame("messageStart", {"role": "assistant"})]
    chunks += [
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces(TEXT, 0)
    ]
    chunks += [
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame("messageStop", {"stopReason": "end_turn"}),
        frame("metadata", {"usage": _usage(usage), "metrics": {"latencyMs": 5}}),
    ]
    return Reply(200, {"content-type": EVENT_STREAM}, chunks=tuple(chunks))


def invoke(model: str, usage: Usage) -> Reply:
    """The model family's own body: Anthropic's messages format for anthropic.*, Amazon Titan's otherwise."""
    headers = {
        "x-amzn-bedrock-input-token-count": str(usage.input_tokens),
        "x-amzn-bedrock-output-token-count": str(usage.output_tokens),
    }
    if "anthropic." in model:
        body: dict[str, Any] = {
            "id": "msg_bdrk_fake",
            "type": "message",
            "role": "assistant",
            "model": model.split("anthropic.", 1)[1].rsplit("-v", 1)[0],
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": usage.input_tokens - usage.cache_read_tokens,
                "cache_read_input_tokens": usage.cache_read_tokens,
                "cache_creation_input_tokens": 0,
                "output_tokens": usage.output_tokens,
            },
        }
    else:
        body = {
            "inputTextTokenCount": usage.input_tokens,
            "results": [
                {"tokenCount": usage.output_tokens, "outputText": TEXT, "completionReason": "FINISH"}
            ],
        }
    return json_reply(body, headers=headers)


def throttled() -> Reply:
    return json_reply(
        {"message": "Too many requests, please wait before trying again."},
        429,
        {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


def reply_for(path: str, usage: Usage) -> Reply | None:
    """The Bedrock Runtime answer for this path, or None when it is no Bedrock path."""
    if not path.startswith("/model/"):
        return None
    model = unquote(path[len("/model/") :].rsplit("/", 1)[0])
    if path.endswith("/converse"):
        return converse(usage)
    if path.endswith("/converse-stream"):
        return converse_stream(usage)
    if path.endswith("/invoke"):
        return invoke(model, usage)
    return None
