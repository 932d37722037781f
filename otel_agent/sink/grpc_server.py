"""OTLP/gRPC TraceService receiver: decode, enqueue, answer. Persistence happens elsewhere.

Backpressure per the OTLP spec, checked before the request is decoded: a full queue answers
RESOURCE_EXHAUSTED, a sink shutting down or a full journal UNAVAILABLE, both with a RetryInfo delay (an
OTLP client retries RESOURCE_EXHAUSTED only when it carries one), sent both in the standard
``grpc-status-details-bin`` trailer (read by the Collector and Go/Java exporters) and as
``google.rpc.retryinfo-bin`` (read by the Python exporter). Oversized messages are refused by gRPC
itself (RESOURCE_EXHAUSTED, without RetryInfo: not retried) through the server's max receive length.
"""

from __future__ import annotations

from collections import namedtuple
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_agent.sink import journal
from otel_agent.sink.decode import decode_request
from otel_agent.sink.intake import BUSY, BearerAuth, Intake, Outcome, Received
from otel_agent.sink.metrics import SinkMetrics

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _Status(namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    """A grpc.Status for ``context.abort_with_status``."""


def retry_later_status(
    retry_after_s: float, message: str, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
) -> grpc.Status:
    """UNAVAILABLE or RESOURCE_EXHAUSTED carrying a RetryInfo, in both trailers OTLP clients read."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    retry_info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    exhausted = code == grpc.StatusCode.RESOURCE_EXHAUSTED
    number = code_pb2.RESOURCE_EXHAUSTED if exhausted else code_pb2.UNAVAILABLE
    rich = status_pb2.Status(code=number, message=message, details=[detail])
    trailers = (
        ("grpc-status-details-bin", rich.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry_info.SerializeToString()),
    )
    return _Status(code, message, trailers)


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """The TraceService.Export handler."""

    def __init__(self, intake: Intake, auth: BearerAuth, metrics: SinkMetrics, retry_after_s: float) -> None:
        self._intake, self._auth, self.metrics = intake, auth, metrics
        self._retry_after_s = retry_after_s

    def Export(  # noqa: N802 - the generated servicer's name
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        self.check(context)
        return self.accept(request, context, request.SerializeToString())

    def accept(
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext, body: bytes | None
    ) -> ExportTraceServiceResponse:
        """Decode, journal and enqueue a checked request; ``body`` is its bytes, for the journal."""
        received = Received(body, journal.PROTOBUF) if body is not None else None
        outcome = self._intake.submit(decode_request(request), "grpc", received)
        if not outcome.accepted:
            self.retry_later(outcome, context)
        return outcome.response()

    def check(self, context: grpc.ServicerContext) -> None:
        """Token, then room: both before the request is decoded."""
        if self._auth.enabled and not self._auth.allows(_header(context, "authorization")):
            self.metrics.request_failed("grpc", "unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        refusal = self._intake.admit()
        if refusal is not None:
            self.retry_later(refusal, context)

    def retry_later(self, outcome: Outcome, context: grpc.ServicerContext) -> None:
        self.metrics.request_refused("grpc", str(outcome.refusal))
        busy = outcome.refusal == BUSY
        code = grpc.StatusCode.RESOURCE_EXHAUSTED if busy else grpc.StatusCode.UNAVAILABLE
        context.abort_with_status(retry_later_status(self._retry_after_s, outcome.error_message, code))


def _header(context: grpc.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata():
        if key == name:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def export_handler(receiver: TraceReceiver) -> grpc.GenericRpcHandler:
    """TraceService/Export taking raw bytes, so a body that is not protobuf gets INVALID_ARGUMENT with
    the reason (as the OTLP spec asks) rather than gRPC's generic INTERNAL deserialisation error."""

    def export(body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        receiver.check(context)  # a full sink refuses before parsing
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            receiver.metrics.request_failed("grpc", "malformed")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an OTLP protobuf trace request: {exc}")
        return receiver.accept(request, context, body)

    method = grpc.unary_unary_rpc_method_handler(
        export, response_serializer=ExportTraceServiceResponse.SerializeToString
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Export": method})


def build_grpc_server(
    receiver: TraceReceiver,
    endpoint: str,
    *,
    max_request_bytes: int,
    workers: int,
    tls: tuple[bytes, bytes] | None = None,
) -> tuple[grpc.Server, int]:
    """A started-ready (not started) gRPC server and the port it bound; ``tls`` is (cert, key) PEM."""
    options = [
        ("grpc.max_receive_message_length", max_request_bytes),
        ("grpc.so_reuseport", 0),  # a second sink on the same port must fail, not share it silently
        # Clients reconnect every few minutes, so spans spread over sinks added behind a load balancer.
        ("grpc.max_connection_age_ms", 300_000),
        ("grpc.max_connection_age_grace_ms", 30_000),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    server.add_generic_rpc_handlers((export_handler(receiver),))
    if tls is None:
        port = server.add_insecure_port(endpoint)
    else:
        port = server.add_secure_port(endpoint, grpc.ssl_server_credentials([(tls[1], tls[0])]))
    return server, port
