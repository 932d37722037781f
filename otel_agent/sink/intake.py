"""What both receivers do with a request: refuse it before any work when full, else decode it, journal
it and enqueue it, or say "retry later".

The order is the promise: ``admit`` is checked before the body is read or decoded (a client retrying
against a full sink costs almost nothing), and a request is appended to the journal before it is
acknowledged (an OK survives a crash of the sink).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from otel_agent.sink.decode import DecodeResult
from otel_agent.sink.journal import Journal, JournalFull
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.queue import SpanQueue

BUSY = "busy"  # queue full: 429 / RESOURCE_EXHAUSTED, with a retry delay
UNAVAILABLE = "unavailable"  # shutting down, or the journal full: 503 / UNAVAILABLE, with a retry delay


@dataclass(frozen=True)
class Outcome:
    """``refusal`` set (BUSY or UNAVAILABLE) means nothing was kept: answer with a retry delay."""

    refusal: str | None = None
    rejected: int = 0
    error_message: str = ""  # partial success when accepted; why not, otherwise

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    def response(self) -> ExportTraceServiceResponse:
        """The OTLP answer to an accepted request; partial_success is set only when spans were rejected."""
        if not self.rejected:
            return ExportTraceServiceResponse()
        partial = ExportTracePartialSuccess(rejected_spans=self.rejected, error_message=self.error_message)
        return ExportTraceServiceResponse(partial_success=partial)


@dataclass(frozen=True)
class Received:
    """A request body as it arrived, for the journal: ``kind`` is journal.PROTOBUF/JSON (| GZIP)."""

    body: bytes
    kind: int


class Intake:
    """Admits decoded spans into the queue, all of a request or none, and counts what happened."""

    def __init__(self, queue: SpanQueue, metrics: SinkMetrics, journal: Journal | None = None) -> None:
        self._queue = queue
        self._metrics = metrics
        self._journal = journal

    def admit(self) -> Outcome | None:
        """A refusal when the request cannot be kept whatever it holds: checked before any work."""
        if self._queue.closed:
            return Outcome(UNAVAILABLE, error_message="otel-agent sink is shutting down; retry later")
        if self._queue.full:
            return Outcome(BUSY, error_message="otel-agent sink queue is full; retry later")
        if self._journal is not None and self._journal.full():
            return Outcome(UNAVAILABLE, error_message=_journal_full(self._journal))
        return None

    def submit(self, result: DecodeResult, transport: str, received: Received | None = None) -> Outcome:
        self._metrics.received(len(result.records), transport)
        refusal = self.admit() if result.records else None
        if refusal is None and result.records:
            refusal = self._keep(result, received)
        if refusal is not None:
            # Nothing was kept, so invalid spans are not reported either: the client resends the
            # whole request and gets its partial success then.
            self._metrics.refused(len(result.records), transport)
            return refusal
        self._metrics.rejected(result.rejected, transport)
        return Outcome(None, result.rejected, result.error_message())

    def _keep(self, result: DecodeResult, received: Received | None) -> Outcome | None:
        ticket = None
        if self._journal is not None and received is not None:
            try:
                ticket = self._journal.append(received.body, received.kind, len(result.records))
            except JournalFull:
                return Outcome(UNAVAILABLE, error_message=_journal_full(self._journal))
            except OSError as exc:  # the disk refuses (full, read-only): not acknowledged, so retry later
                return Outcome(UNAVAILABLE, error_message=f"otel-agent sink cannot write its journal: {exc}")
        if self._queue.offer(result.records, ticket):
            return None
        if ticket is not None and self._journal is not None:
            self._journal.forget(ticket, len(result.records))
        return self.admit() or Outcome(BUSY, error_message="otel-agent sink queue is full; retry later")


def _journal_full(journal: Journal) -> str:
    return (
        f"otel-agent sink journal is full ({journal.max_bytes} bytes) while the database catches up; "
        "retry later"
    )


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


ReadyFn = Callable[[], bool]
