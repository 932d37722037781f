"""Reads a response body for the capture, whole or chunk by chunk, choosing how by its content type.

SSE and NDJSON go through the incremental `EventScanner`; anything else (JSON) is buffered up to a cap
and parsed at the end. Compressed streamed bodies (gzip, deflate) are decompressed for our reading only.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from otel_agent.genai.errors import provider_error, read_error_response
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.headers import header
from otel_agent.genai.scanner import Decompressor, EventScanner
from otel_agent.genai.wire import Wire

MAX_JSON_BODY = 16 << 20


def is_event_stream(content_type: str) -> bool:
    return "event-stream" in content_type or "ndjson" in content_type


_DECODER = json.JSONDecoder()  # what json.loads uses when given no options
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows around a value


def parse_json(body: bytes, facts: CallFacts, what: str, headers: Any = None) -> Any:
    """Decoded JSON, or None with a note saying why it could not be read."""
    try:
        return _loads(body)
    except (ValueError, UnicodeDecodeError):
        pass
    if not body.strip():
        facts.note(f"{what} is empty")
        return None
    encoding = _encoding(headers)
    if encoding not in ("", "identity", "gzip", "deflate"):  # the client could not decode it either
        facts.note(f"content-encoding {encoding} not read")
        return None
    snippet = body.lstrip()[:1].decode("latin-1")
    kind = "HTML" if snippet == "<" else "not JSON"
    facts.note(f"{what} is {kind} ({len(body)} bytes)")
    return None


def _loads(body: bytes) -> Any:
    """json.loads(body), minus its encoding detection and whitespace regexes when the body starts as
    compact UTF-8 JSON does (json.detect_encoding would say utf-8 too)."""
    if body[:1] != b"{" or body[1:2] == b"\0":
        return json.loads(body)
    text = body.decode("utf-8", "surrogatepass")
    decoded, end = _DECODER.raw_decode(text)
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise ValueError("extra data after the JSON value")
    return decoded


def _encoding(headers: Any) -> str:
    return header(headers, "content-encoding").lower() if headers is not None else ""


class BodyReader:
    """Sees the body bytes of one response (as the app reads them) and fills `facts`."""

    def __init__(self, wire: Wire, facts: CallFacts, status: int, headers: Any, max_event_bytes: int) -> None:
        self._wire = wire
        self._facts = facts
        self._status = status
        self._headers = headers
        content_type = headers.get("content-type", "").lower()
        self._events = status < 400 and is_event_stream(content_type)
        self._scanner = EventScanner(wire, facts, max_event_bytes) if self._events else None
        self._buffer: list[bytes] = []
        self._size = 0
        self._decompressor = self._decompressor_for(headers.get("content-encoding", "").lower())

    @property
    def is_stream(self) -> bool:
        return self._events

    def _decompressor_for(self, encoding: str) -> Decompressor | None:
        if encoding in ("gzip", "deflate"):
            return Decompressor(encoding)
        if encoding and encoding != "identity":
            self._facts.note(f"content-encoding {encoding} not read")
            self._broken = True
        return None

    _broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken or not chunk:
            return
        if self._decompressor is not None:
            try:
                chunk = self._decompressor.feed(chunk)
            except zlib.error:
                self._facts.note("compressed body could not be decompressed")
                self._broken = True
                return
        if self._scanner is not None:
            self._scanner.feed(chunk)
        elif self._size + len(chunk) <= MAX_JSON_BODY:
            self._buffer.append(chunk)
            self._size += len(chunk)
        else:
            self._facts.note(f"body over {MAX_JSON_BODY} bytes not read")
            self._broken = True

    def finish(self, complete: bool) -> None:
        """The body ended; `complete` is False when it was closed, cut or failed before its end."""
        if self._broken:
            return
        if self._scanner is not None:
            self._scanner.finish(decode_tail=complete)
            return
        body = b"".join(self._buffer)
        self._buffer = []
        if complete or body:
            read_whole(self._wire, self._facts, self._status, self._headers, body)


def read_whole(wire: Wire, facts: CallFacts, status: int, headers: Any, body: bytes) -> None:
    """A whole (already decoded) body: success JSON, an event stream read at once, or an error."""
    if status >= 400:
        decoded = parse_json(body, facts, "error body", headers) if body else None
        read_error_response(status, headers, decoded, facts)
        return
    if is_event_stream(header(headers, "content-type").lower()):
        scanner = EventScanner(wire, facts, max(len(body), 1))
        scanner.feed(body)
        if not scanner.finish():
            facts.note("stream ended mid-event")
        return
    decoded = parse_json(body, facts, "response body", headers)
    if decoded is not None:
        wire.read_body(decoded, facts)
        if isinstance(decoded, dict) and "error" in decoded:
            name, _ = provider_error(decoded)
            if name and not facts.error_type:
                facts.error_type = name
