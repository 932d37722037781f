"""OTLP/HTTP receiver as an ASGI app (Starlette, served by uvicorn: http_server.py).

POST /v1/traces (protobuf or JSON, gzip) plus GET /healthz, /readyz and /metrics. The server does the
HTTP framing (keep-alive, chunked transfer, malformed requests); this app checks, in order, the bearer
token, the content type and encoding, whether the sink can take anything at all (before the body is read),
the body's size while it is read, and only then decodes it (on a thread when the body is large, so the
event loop keeps answering). Errors follow the OTLP/HTTP spec: a google.rpc.Status body in the request's
encoding; 429 (queue full) or 503 (shutting down, journal full) with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from otel_agent.sink import http_body
from otel_agent.sink.http_body import JSON, HttpError
from otel_agent.sink.intake import BUSY, BearerAuth, Intake, Outcome, Received
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.ratelog import RateLimitedLog

_log = logging.getLogger(__name__)
_ratelog = RateLimitedLog(_log, 60.0)
TRACES_PATH = "/v1/traces"
INLINE_BYTES = 64 * 1024  # bodies up to this size are decoded on the event loop (a thread hop costs more)
DECODE_THREADS = 4
# gRPC code numbers in the Status body, per HTTP status.
GRPC_CODES = {
    401: code_pb2.UNAUTHENTICATED, 404: code_pb2.NOT_FOUND, 405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED, 429: code_pb2.RESOURCE_EXHAUSTED, 503: code_pb2.UNAVAILABLE,
}  # fmt: skip


@dataclass(frozen=True)
class HttpContext:
    """What the app needs from the sink."""

    intake: Intake
    auth: BearerAuth
    metrics: SinkMetrics
    max_request_bytes: int
    retry_after_s: float
    ready: Callable[[], bool]
    max_inflight_bytes: int = 64 * 1024 * 1024  # bodies being read at once; beyond, 429


class _Inflight:
    """Bytes of request bodies held in memory right now, across connections (the event loop's only)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit:
            raise HttpError(429, "busy", "otel-agent sink is reading too many requests at once; retry later")
        self.held += size


def build_app(ctx: HttpContext) -> Starlette:
    """The Starlette app serving the OTLP/HTTP receiver and the probes."""
    receiver = _Receiver(ctx)
    routes = [
        Route(TRACES_PATH, receiver.export, methods=["POST"]),
        Route("/healthz", lambda _: Response(b'{"status":"ok"}', media_type=JSON)),
        Route("/readyz", receiver.readyz),
        Route("/metrics", receiver.metrics),
    ]
    handlers = {404: _not_found, 405: _not_found}
    app = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.receiver = receiver
    return app


async def _not_found(_request: Request, exc: HTTPException) -> Response:
    return status_response(exc.status_code, f"POST {TRACES_PATH} only; try /healthz, /readyz, /metrics", JSON)


class _Receiver:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self._inflight = _Inflight(ctx.max_inflight_bytes)
        self._threads = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="otel-agent-sink-decode")

    async def export(self, request: Request) -> Response:
        ctx, media = self.ctx, JSON
        try:
            if not ctx.auth.allows(request.headers.get("authorization")):
                raise HttpError(401, "unauthenticated", "missing or wrong bearer token")
            media = http_body.media_type(request.headers.get("content-type"))
            encoding = http_body.content_encoding(request.headers.get("content-encoding"))
            refusal = ctx.intake.admit()  # before reading or decoding anything
            if refusal is not None:
                return self._retry_later(refusal, media)
            outcome = await self._receive(request, media, encoding)
        except HttpError as exc:
            ctx.metrics.request_failed("http", exc.reason)
            return status_response(exc.status, exc.message, media)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        except Exception as exc:  # a bug of ours: answer 500 (retried by nobody), keep serving
            ctx.metrics.request_failed("http", "internal")
            _ratelog.log(logging.ERROR, "post", "otel-agent sink: request failed: %r", exc, exc_info=True)
            return status_response(500, "internal error in otel-agent sink", media)
        if not outcome.accepted:
            return self._retry_later(outcome, media)
        return message_response(200, outcome.response(), media)

    async def _receive(self, request: Request, media: str, encoding: str) -> Outcome:
        limit = self.ctx.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refused before a byte of it is read
            message = f"request body of {declared} bytes exceeds the {limit}-byte limit"
            raise HttpError(413, "too_large", message)
        held = 0
        try:
            parts = []
            async for chunk in request.stream():
                self._inflight.take(len(chunk))
                held += len(chunk)
                if held > limit:
                    raise HttpError(413, "too_large", f"request body exceeds the {limit}-byte limit")
                parts.append(chunk)
            body = b"".join(parts)
            del parts
            if len(body) <= INLINE_BYTES:
                return self._accept(body, media, encoding)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, self._accept, body, media, encoding)
        finally:
            self._inflight.held -= held

    def _accept(self, body: bytes, media: str, encoding: str) -> Outcome:
        raw = http_body.decompress(body, encoding, self.ctx.max_request_bytes)
        result = http_body.decode_body(raw, media)
        received = Received(body, http_body.journal_kind(media, encoding))
        return self.ctx.intake.submit(result, "http", received)

    def _retry_later(self, outcome: Outcome, media: str) -> Response:
        self.ctx.metrics.request_refused("http", str(outcome.refusal))
        status = 429 if outcome.refusal == BUSY else 503
        retry_after = str(max(1, math.ceil(self.ctx.retry_after_s)))
        response = status_response(status, outcome.error_message, media)
        response.headers["Retry-After"] = retry_after
        return response

    async def readyz(self, _request: Request) -> Response:
        ready = self.ctx.ready()
        return Response(json.dumps({"ready": ready}).encode(), 200 if ready else 503, media_type=JSON)

    async def metrics(self, _request: Request) -> Response:
        page, content_type = self.ctx.metrics.prometheus_page()
        return Response(page, headers={"Content-Type": content_type})

    def close(self) -> None:
        self._threads.shutdown(wait=False)


def status_response(code: int, message: str, media: str) -> Response:
    """A google.rpc.Status error body, as the OTLP/HTTP spec asks."""
    # The message may quote the client's bytes: never let a lone surrogate break the answer.
    safe = message.encode("utf-8", "replace").decode("utf-8")
    response = message_response(code, status_pb2.Status(code=GRPC_CODES.get(code, 3), message=safe), media)
    if code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def message_response(code: int, message: Message, media: str) -> Response:
    if media == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return Response(body, code, media_type=media)
