"""The sink's own metrics, recorded through the OpenTelemetry metrics API.

Each sink owns a MeterProvider whose reader is the OTel Prometheus exporter writing into a private
prometheus_client registry, served at GET /metrics. A private registry (not the global one) lets two
sinks live in one process (tests) and keeps application metrics out of the sink's page. Labels are
bounded: the transport (grpc | http) and, on refused requests, a reason from a fixed few.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from otel_agent.attributes import SERVICE_NAME, SINK_REASON, SINK_TRANSPORT
from otel_agent.metrics.stalls import observe_stalled

METER_NAME = "otel_agent.sink"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SinkMetrics:
    """Counters, a latency histogram and queue gauges for one sink instance."""

    def __init__(self, queue_depth: Callable[[], int], queue_capacity: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._provider = MeterProvider(
            metric_readers=[PrometheusMetricReader(registry=self.registry)],
            resource=Resource.create({SERVICE_NAME: "otel-agent-sink"}),
        )
        meter = self._provider.get_meter(METER_NAME)
        texts = {
            "received": "Spans decoded",
            "rejected": "Invalid spans refused by partial success",
            "refused": "Valid spans refused with retry-later (queue full)",
            "written": "Spans materialised",
            "dropped": "Spans the materialiser could not write, even alone",
            "skipped": "Spans not materialised: they belong to no agent run",
        }
        spans = {k: meter.create_counter(f"otel_agent.sink.spans.{k}", "{span}", v) for k, v in texts.items()}
        self._received, self._rejected, self._refused = spans["received"], spans["rejected"], spans["refused"]
        self._written, self._dropped, self._skipped = spans["written"], spans["dropped"], spans["skipped"]
        self._retries = meter.create_counter("otel_agent.sink.write.retries", "{retry}", "Write retries")
        self._bad_requests = meter.create_counter(
            "otel_agent.sink.requests.failed", "{request}", "Requests refused whole (malformed, auth, size)"
        )
        self._retry_later = meter.create_counter(
            "otel_agent.sink.requests.refused",
            "{request}",
            "Requests answered retry-later (queue or journal full, shutting down), most before decoding",
        )
        self._latency = meter.create_histogram(
            "otel_agent.sink.write.duration",
            "s",
            "Batch write latency",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self._observe_queue(meter, queue_depth, queue_capacity)
        observe_stalled(meter)  # the sink's sweep declares runs stalled: otel_agent_runs_stalled_total

    @staticmethod
    def _observe_queue(meter: Meter, depth: Callable[[], int], capacity: int) -> None:
        def observe_depth(_: CallbackOptions) -> Iterable[Observation]:
            yield Observation(depth())

        def observe_capacity(_: CallbackOptions) -> Iterable[Observation]:
            yield Observation(capacity)

        meter.create_observable_gauge(
            "otel_agent.sink.queue.depth", [observe_depth], "{span}", "Spans queued"
        )
        meter.create_observable_gauge(
            "otel_agent.sink.queue.capacity", [observe_capacity], "{span}", "Queue bound"
        )

    def received(self, count: int, transport: str) -> None:
        self._received.add(count, {SINK_TRANSPORT: transport})

    def rejected(self, count: int, transport: str) -> None:
        if count:
            self._rejected.add(count, {SINK_TRANSPORT: transport})

    def refused(self, count: int, transport: str) -> None:
        self._refused.add(count, {SINK_TRANSPORT: transport})

    def request_refused(self, transport: str, reason: str) -> None:
        # reason: busy (queue full) or unavailable (journal full, shutting down).
        self._retry_later.add(1, {SINK_TRANSPORT: transport, SINK_REASON: reason})

    def request_failed(self, transport: str, reason: str) -> None:
        # reason is one of a fixed few (malformed, unauthenticated, too_large, media_type): bounded.
        self._bad_requests.add(1, {SINK_TRANSPORT: transport, SINK_REASON: reason})

    def written(self, count: int, seconds: float) -> None:
        self._written.add(count)
        self._latency.record(seconds)

    def retry(self) -> None:
        self._retries.add(1)

    def skipped(self, count: int) -> None:
        if count:
            self._skipped.add(count)

    def dropped(self, count: int) -> None:
        self._dropped.add(count)

    def prometheus_page(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type, for GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def shutdown(self) -> None:
        self._provider.shutdown()
