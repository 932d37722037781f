"""MetricsSpanProcessor: GenAI and agent metrics from enriched, finished spans.

Place it DOWNSTREAM of the end-enrichment wrapper (it reads normalised usage, cost, run status and
roll-ups). It needs no span exporter: it records every span the process ends, whatever exporters (SQL
only, OTLP, none) and whatever the Collector samples.

Two halves keep the application fast. ``on_end`` (application thread) reads a few attributes into a
small sample and appends it to a bounded buffer. The buffer is drained into the SDK instruments when
metrics are collected (the reader's thread: periodic export, ``force_flush``, shutdown), because one
SDK measurement costs several microseconds.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_agent import __version__
from otel_agent import guard as failures
from otel_agent.metrics.instruments import AgentInstruments
from otel_agent.metrics.pipeline import record_dropped
from otel_agent.metrics.samples import Sample, sample_of
from otel_agent.settings import Settings

METER_NAME = "otel_agent"
DEFAULT_MAX_SERIES = 1000
DEFAULT_BUFFER = 65536


class MetricsSpanProcessor(SpanProcessor):
    """Records otel-agent's metrics (docs/metrics.md) from finished spans; never raises, never blocks."""

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        max_series: int = DEFAULT_MAX_SERIES,
        buffer_size: int = DEFAULT_BUFFER,
    ) -> None:
        self._meter_provider = meter_provider  # None: the global one, looked up when the first span ends
        self._max_series = max_series
        self._capacity = buffer_size
        self._buffer: deque[Sample] = deque()
        # Re-entrant: an observable callback holds it while it drains and then reads the run state.
        self._drain_lock = threading.RLock()
        self._create_lock = threading.Lock()
        self._instruments: AgentInstruments | None = None
        self._disabled = False
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := ref()) and method())

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self._disabled:
            return
        try:
            sample = sample_of(span)
            if sample is None or (self._instruments is None and not self._activate()):
                return
            if len(self._buffer) >= self._capacity:
                record_dropped("metrics")
                return
            self._buffer.append(sample)
        except Exception as exc:
            with failures.guard("metrics"):  # counted and logged (rate-limited); re-raised only under pytest
                raise exc

    def _after_fork(self) -> None:
        # The child must not inherit a lock held mid-drain, nor count the parent's pending spans again.
        self._drain_lock = threading.RLock()
        self._create_lock = threading.Lock()
        self._buffer.clear()
        if self._instruments is not None:
            self._instruments.lock = self._drain_lock

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Record every buffered sample now (the metric reader still decides when to export)."""
        with failures.guard("metrics.flush"):
            self.drain()
        return True

    def shutdown(self) -> None:
        self.force_flush()

    def drain(self) -> None:
        """Move buffered samples into the instruments; runs on the collecting thread."""
        instruments = self._instruments
        if instruments is None:
            return
        with self._drain_lock:
            # Bounded by the length now: spans ending meanwhile wait for the next collection.
            for _ in range(len(self._buffer)):
                sample = self._buffer.popleft()
                with failures.guard("metrics.record"):
                    instruments.record(sample)

    @property
    def instruments(self) -> AgentInstruments | None:
        return self._instruments

    def _activate(self) -> bool:
        """Create the instruments once a provider that collects exists; False while there is none."""
        provider = self._meter_provider or metrics.get_meter_provider()
        if isinstance(provider, NoOpMeterProvider):
            self._disabled = True
            return False
        if self._meter_provider is None and not isinstance(provider, SdkMeterProvider):
            return False  # still the API's proxy: the configurator has not set a provider yet
        if _has_no_reader(provider):
            return False  # nothing would ever collect (OTEL_METRICS_EXPORTER=none): do not buffer
        # Not under the drain lock: creating instruments takes the SDK's collection lock, whose holder may
        # be waiting in one of our callbacks for the drain lock.
        with self._create_lock:
            if self._instruments is None:
                meter = provider.get_meter(METER_NAME, __version__)
                self._instruments = AgentInstruments(meter, self._max_series, self.drain, self._drain_lock)
        return True


def from_settings(settings: Settings) -> MetricsSpanProcessor | None:
    """Span-processor factory (entry point ``otel_agent_span_processors``: ``metrics``)."""
    if not (settings.enabled and settings.metrics):
        return None
    return MetricsSpanProcessor(max_series=settings.metrics_max_series, buffer_size=settings.metrics_buffer)


def _has_no_reader(provider: MeterProvider) -> bool:
    # The SDK keeps its readers in a private attribute (readers can be added later, so look each time
    # until one exists); anything unexpected counts as "has readers".
    readers = getattr(provider, "_metric_readers", None)
    return isinstance(readers, (list, tuple)) and not readers
