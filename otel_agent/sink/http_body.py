"""An OTLP/HTTP request body, checked: content type, gzip with a bomb guard, decoding.

Every problem is an ``HttpError`` carrying the status the client should get (400, 413, 415). Reading the
body (HTTP framing, chunked transfer, size limit) is the server's (uvicorn) and http_app.py's job.
"""

from __future__ import annotations

import zlib

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_agent.sink import journal
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
        raise HttpError(415, "media_type", f"Content-Type must be {PROTOBUF} or {JSON}, got {media[:60]!r}")
    return media


def content_encoding(header: str | None) -> str:
    """identity or gzip; 415 for anything else."""
    encoding = (header or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        got = encoding[:40]
        raise HttpError(415, "media_type", f"Content-Encoding must be gzip or identity, got {got!r}")
    return encoding


def journal_kind(media: str, encoding: str) -> int:
    """How the journal labels a body, so a replay decodes it the same way."""
    kind = journal.JSON if media == JSON else journal.PROTOBUF
    return kind | (journal.GZIP if encoding == "gzip" else 0)


def media_of(kind: int) -> tuple[str, str]:
    """(media, encoding) of a journal kind."""
    return (JSON if kind & journal.JSON else PROTOBUF), ("gzip" if kind & journal.GZIP else "identity")


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding (identity or gzip); a body that inflates past ``limit`` gets 413."""
    if encoding == "identity":
        return body
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
