"""OTLP/HTTP receiver (POST /v1/traces, protobuf or JSON, gzip) plus /healthz, /readyz and /metrics.

Built on the standard library's threading HTTP server: one thread per connection, keep-alive, no
framework. Like the gRPC receiver it only decodes and enqueues. Errors follow the OTLP/HTTP spec: a
google.rpc.Status body in the request's encoding, 503 + Retry-After when the queue is full.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from otel_agent.sink import http_body
from otel_agent.sink.http_body import JSON, HttpError
from otel_agent.sink.intake import BearerAuth, Intake
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.ratelog import RateLimitedLog

_log = logging.getLogger(__name__)
_ratelog = RateLimitedLog(_log, 60.0)
TRACES_PATH = "/v1/traces"
MAX_CONNECTIONS = 256  # open connections (one thread each); beyond, new ones are closed at once


@dataclass(frozen=True)
class HttpContext:
    """What the handler threads share."""

    intake: Intake
    auth: BearerAuth
    metrics: SinkMetrics
    max_request_bytes: int
    retry_after_s: float
    ready: Callable[[], bool]
    max_connections: int = MAX_CONNECTIONS


class SinkHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that carries the sink's context and never waits on idle keep-alives."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that drops the connection or fails the TLS handshake (OSError) is not our error.
        error = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(error, OSError) else logging.ERROR
        _ratelog.log(level, f"conn{level}", "otel-agent sink: connection failed: %r", error, exc_info=True)

    def __init__(self, address: tuple[str, int], context: HttpContext, tls: ssl.SSLContext | None) -> None:
        super().__init__(address, OtlpHttpHandler)
        self.context = context
        self._slots = threading.BoundedSemaphore(context.max_connections)
        if tls is not None:
            # Handshake lazily in the connection's own thread, not in the accept loop.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)


    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, so connections are bounded: a client opening too many gets the extra
        # ones closed (OTLP clients retry connection errors) and the others keep being served.
        if not self._slots.acquire(blocking=False):
            self.context.metrics.request_failed("http", "too_many_connections")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class OtlpHttpHandler(BaseHTTPRequestHandler):
    """One connection's requests."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle keep-alive connection may hold its thread
    server: SinkHttpServer
    body_consumed = True  # False from the start of a POST until its body has been read

    def do_POST(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
        ctx = self.server.context
        media = JSON
        self.body_consumed = False
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise HttpError(404, "not_found", f"only POST {TRACES_PATH} is served")
            if not ctx.auth.allows(self.headers.get("Authorization")):
                raise HttpError(401, "unauthenticated", "missing or wrong bearer token")
            media = http_body.media_type(self.headers.get("Content-Type"))
            self._receive(ctx, media)
        except HttpError as exc:
            ctx.metrics.request_failed("http", exc.reason)
            self._send_status(exc.status, exc.message, media)
        except Exception as exc:  # a bug of ours: answer 500 (retryable by nobody), keep serving
            ctx.metrics.request_failed("http", "internal")
            _ratelog.log(logging.ERROR, "post", "otel-agent sink: request failed: %r", exc, exc_info=True)
            self.body_consumed = False  # we cannot tell how much was read: close the connection
            self._send_status(500, "internal error in otel-agent sink", media)

    def _receive(self, ctx: HttpContext, media: str) -> None:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        raw = http_body.read_body(
            self.rfile, self.headers.get("Content-Length"), chunked, ctx.max_request_bytes
        )
        self.body_consumed = True
        body = http_body.decompress(raw, self.headers.get("Content-Encoding"), ctx.max_request_bytes)
        outcome = ctx.intake.submit(http_body.decode_body(body, media), "http")
        if not outcome.accepted:
            retry_after = str(max(1, math.ceil(ctx.retry_after_s)))
            message = outcome.error_message
            self._send_status(503, message, media, {"Retry-After": retry_after})
            return
        self._send_message(200, outcome.response(), media)

    def do_GET(self) -> None:  # noqa: N802
        ctx = self.server.context
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b'{"status":"ok"}', JSON)
        elif path == "/readyz":
            ready = ctx.ready()
            self._send(200 if ready else 503, json.dumps({"ready": ready}).encode(), JSON)
        elif path == "/metrics":
            page, content_type = ctx.metrics.prometheus_page()
            self._send(200, page, content_type)
        else:
            self._send_status(404, "not found; try /healthz, /readyz, /metrics", JSON)

    def _send_status(
        self, code: int, message: str, media: str, headers: dict[str, str] | None = None
    ) -> None:
        # gRPC code numbers in the Status body: 3 INVALID_ARGUMENT, 14 UNAVAILABLE, 16 UNAUTHENTICATED.
        grpc_code = {401: 16, 503: 14}.get(code, 3)
        status = status_pb2.Status(code=grpc_code, message=message)
        if code == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if not self.body_consumed:  # refused before reading the body: this connection cannot be reused
            headers = {**(headers or {}), "Connection": "close"}
            self.close_connection = True
        self._send_message(code, status, media, headers)

    def _send_message(
        self, code: int, message: Message, media: str, headers: dict[str, str] | None = None
    ) -> None:
        if media == JSON:
            body = json_format.MessageToJson(message, indent=None).encode()
        else:
            body = message.SerializeToString()
        self._send(code, body, media, headers)

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        _log.debug("%s " + format, self.address_string(), *args)
