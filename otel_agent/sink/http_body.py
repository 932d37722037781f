"""Reading an OTLP/HTTP request body safely: size limit, chunked transfer, gzip with a bomb guard.

Every problem is an ``HttpError`` carrying the status the client should get (400, 411, 413, 415).
"""

from __future__ import annotations

import zlib
from io import BufferedIOBase

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_agent.sink.decode import DecodeResult, decode_request
from otel_agent.sink.otlp_json import MalformedBody, decode_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class HttpError(Exception):
    """A request refused whole; ``status`` is the HTTP status, ``reason`` a bounded metric label."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def media_type(content_type: str | None) -> str:
    """The OTLP encoding named by a Content-Type header; 415 for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise HttpError(415, "media_type", f"Content-Type must be {PROTOBUF} or {JSON}, got {media!r}")
    return media


def read_body(stream: BufferedIOBase, length: str | None, chunked: bool, limit: int) -> bytes:
    """The raw body, from a Content-Length or chunked transfer, never more than ``limit`` bytes."""
    if chunked:
        return _read_chunked(stream, limit)
    if length is None:
        raise HttpError(411, "malformed", "Content-Length or chunked Transfer-Encoding is required")
    try:
        size = int(length)
    except ValueError:
        raise HttpError(400, "malformed", f"bad Content-Length {length!r}") from None
    if size < 0:
        raise HttpError(400, "malformed", f"bad Content-Length {length!r}")
    if size > limit:
        raise HttpError(413, "too_large", f"request body of {size} bytes exceeds the {limit}-byte limit")
    body = stream.read(size)
    if len(body) != size:
        raise HttpError(400, "malformed", f"body ended after {len(body)} of {size} bytes")
    return body


def _read_chunked(stream: BufferedIOBase, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "malformed", "bad chunk size line") from None
        if size == 0:
            while stream.readline(1024).strip():  # trailers, up to the blank line
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise HttpError(413, "too_large", f"chunked request body exceeds the {limit}-byte limit")
        parts.append(stream.read(size))
        stream.readline(8)  # the CRLF after each chunk


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding (identity or gzip); a body that inflates past ``limit`` gets 413."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise HttpError(415, "media_type", f"Content-Encoding must be gzip or identity, got {encoding!r}")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HttpError(400, "malformed", f"body is not valid gzip: {exc}") from None
    if len(out) > limit:
        raise HttpError(413, "too_large", f"gzip body inflates past the {limit}-byte limit")
    if not inflater.eof:
        raise HttpError(400, "malformed", "gzip body is truncated")
    return out


def decode_body(body: bytes, media: str) -> DecodeResult:
    """Decode an OTLP trace request in either encoding; 400 when it is not one."""
    try:
        if media == JSON:
            return decode_json(body)
        return decode_request(ExportTraceServiceRequest.FromString(body))
    except (DecodeError, MalformedBody) as exc:
        kind = "JSON" if media == JSON else "protobuf"
        raise HttpError(400, "malformed", f"body is not an OTLP {kind} trace request: {exc}") from None
