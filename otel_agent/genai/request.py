"""What the request says (model, stream flag) and the opt-in rewrite that asks for usage in streams.

The body is searched with a regex rather than parsed (unless content capture needs it): json.loads of a
few-KB prompt would cost more than the whole capture budget. The regex cannot match inside a JSON string
(quotes there are escaped), so it only finds real "model" keys; a nested object with its own string
"model" key before the top-level one could mislead it (no provider request has one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')
_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_STREAM_OPTIONS = re.compile(rb'"stream_options"\s*:')


@dataclass(slots=True)
class RequestFacts:
    model: str | None = None
    stream: bool = False
    body: Any = None  # parsed JSON, only when it was small or content capture needed it


def body_bytes(request: Any) -> bytes | None:
    """The request body if it is already in memory (a streamed upload is left unread)."""
    try:
        content = request.content
    except Exception:  # httpx raises RequestNotRead for generator bodies
        return None
    return content if isinstance(content, bytes) else None


def read_request(content: bytes | None, parse_all: bool) -> RequestFacts:
    if not content:
        return RequestFacts()
    if parse_all:
        try:
            body = json.loads(content)
        except ValueError:
            return RequestFacts()
        if isinstance(body, dict):
            model = body.get("model")
            return RequestFacts(model if isinstance(model, str) else None, body.get("stream") is True, body)
        return RequestFacts(body=body)
    found = _MODEL.search(content)
    return RequestFacts(
        found.group(1).decode("utf-8", "replace") if found else None, bool(_STREAM_TRUE.search(content))
    )


def with_stream_usage(content: bytes) -> bytes | None:
    """The body with stream_options.include_usage added, or None when it already says something."""
    if _STREAM_OPTIONS.search(content):
        return None
    body = json.loads(content)
    if not isinstance(body, dict) or body.get("stream") is not True:
        return None
    body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


def rebuilt(request: Any, content: bytes) -> Any:
    """A copy of an httpx/httpx2 request with a new body (Content-Length recomputed by the library)."""
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    return type(request)(
        request.method, request.url, headers=headers, content=content, extensions=request.extensions
    )
