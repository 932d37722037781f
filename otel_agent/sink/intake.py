"""What both receivers do with a decoded request: count it and enqueue it, or say "retry later"."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from otel_agent.sink.decode import DecodeResult
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.queue import SpanQueue


@dataclass(frozen=True)
class Outcome:
    """accepted=False means the queue is full or closing: answer UNAVAILABLE / 503 with a retry delay."""

    accepted: bool
    rejected: int = 0
    error_message: str = ""  # partial success when accepted; why not, otherwise

    def response(self) -> ExportTraceServiceResponse:
        """The OTLP answer to an accepted request; partial_success is set only when spans were rejected."""
        if not self.rejected:
            return ExportTraceServiceResponse()
        partial = ExportTracePartialSuccess(rejected_spans=self.rejected, error_message=self.error_message)
        return ExportTraceServiceResponse(partial_success=partial)


class Intake:
    """Admits decoded spans into the queue, all of a request or none, and counts what happened."""

    def __init__(self, queue: SpanQueue, metrics: SinkMetrics) -> None:
        self._queue = queue
        self._metrics = metrics

    def submit(self, result: DecodeResult, transport: str) -> Outcome:
        self._metrics.received(len(result.records), transport)
        if not self._queue.offer(result.records):
            # Nothing was kept, so invalid spans are not reported either: the client resends the
            # whole request and gets its partial success then.
            self._metrics.refused(len(result.records), transport)
            why = "is shutting down" if self._queue.closed else "queue is full"
            return Outcome(False, error_message=f"otel-agent sink {why}; retry later")
        self._metrics.rejected(result.rejected, transport)
        return Outcome(True, result.rejected, result.error_message())


class BearerAuth:
    """Checks an ``Authorization: Bearer <token>`` value in constant time; no token configured = open."""

    def __init__(self, token: str | None) -> None:
        self._expected = f"Bearer {token}".encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, header: str | None) -> bool:
        if self._expected is None:
            return True
        # compare_digest takes time independent of where the values differ.
        return hmac.compare_digest((header or "").strip().encode(), self._expected)
