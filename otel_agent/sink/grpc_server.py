"""OTLP/gRPC TraceService receiver: decode, enqueue, answer. Persistence happens elsewhere.

Backpressure per the OTLP spec: a full queue answers UNAVAILABLE with a RetryInfo delay, sent both
in the standard ``grpc-status-details-bin`` trailer (read by the Collector and Go/Java exporters) and as
``google.rpc.retryinfo-bin`` (read by the Python exporter). Oversized messages are refused by gRPC
itself (RESOURCE_EXHAUSTED) through the server's max receive length.
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

from otel_agent.sink.decode import decode_request
from otel_agent.sink.intake import BearerAuth, Intake
from otel_agent.sink.metrics import SinkMetrics

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _Status(namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    """A grpc.Status for ``context.abort_with_status``."""


def retry_later_status(retry_after_s: float, message: str) -> grpc.Status:
    """UNAVAILABLE carrying a RetryInfo, in both trailers OTLP clients read."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    retry_info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    rich = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    trailers = (
        ("grpc-status-details-bin", rich.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry_info.SerializeToString()),
    )
    return _Status(grpc.StatusCode.UNAVAILABLE, message, trailers)


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """The TraceService.Export handler."""

    def __init__(self, intake: Intake, auth: BearerAuth, metrics: SinkMetrics, retry_after_s: float) -> None:
        self._intake, self._auth, self.metrics = intake, auth, metrics
        self._retry_after_s = retry_after_s

    def Export(  # noqa: N802 - the generated servicer's name
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        if self._auth.enabled and not self._auth.allows(_header(context, "authorization")):
            self.metrics.request_failed("grpc", "unauthenticated")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        outcome = self._intake.submit(decode_request(request), "grpc")
        if not outcome.accepted:
            message = outcome.error_message
            context.abort_with_status(retry_later_status(self._retry_after_s, message))
        return outcome.response()


def _header(context: grpc.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata():
        if key == name:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def export_handler(receiver: TraceReceiver) -> grpc.GenericRpcHandler:
    """TraceService/Export taking raw bytes, so a body that is not protobuf gets INVALID_ARGUMENT with
    the reason (as the OTLP spec asks) rather than gRPC's generic INTERNAL deserialisation error."""

    def export(body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            receiver.metrics.request_failed("grpc", "malformed")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an OTLP protobuf trace request: {exc}")
        return receiver.Export(request, context)

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
