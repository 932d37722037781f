"""Test helper: a fresh global TracerProvider per test, with otel-agent in front of an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from otel_agent import attributes as A
from otel_agent.pricing import PriceBook
from otel_agent.processors.enriching import EnrichingSpanProcessor
from otel_agent.settings import Settings


def reset_global_tracer_provider() -> None:
    # What opentelemetry-test-utils does: the API allows setting the global provider only once.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@dataclass
class Captured:
    provider: TracerProvider
    exporter: InMemorySpanExporter
    wrapper: EnrichingSpanProcessor

    def spans(self, include_markers: bool = False) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return spans if include_markers else [s for s in spans if s.name != A.MARKER_SPAN_NAME]

    def markers(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == A.MARKER_SPAN_NAME]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]


def install(settings: Settings | None = None, prices: PriceBook | None = None) -> Captured:
    reset_global_tracer_provider()
    exporter = InMemorySpanExporter()
    wrapper = EnrichingSpanProcessor(
        [SimpleSpanProcessor(exporter)],
        settings=settings or Settings(heartbeat_interval_s=0),
        prices=prices,
    )
    provider = TracerProvider()
    provider.add_span_processor(wrapper)
    trace.set_tracer_provider(provider)
    return Captured(provider, exporter, wrapper)


@pytest.fixture
def captured() -> Iterator[Captured]:
    cap = install()
    yield cap
    cap.provider.shutdown()
    reset_global_tracer_provider()


class PatientMetricReader(InMemoryMetricReader):
    """An in-memory metric reader whose collections wait as long as they need: the SDK gives a
    collection 10 s, which a test with thousands of series can pass on a loaded machine (an observable
    instrument's callback then fails the test with MetricsTimeoutError, though nothing is wrong)."""

    def collect(self, timeout_millis: float = 600_000) -> None:
        super().collect(timeout_millis=timeout_millis)
