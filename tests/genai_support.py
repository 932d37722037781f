"""Shared test set-up for the genai capture: a fake provider, a tracer provider with the real processors
and an in-memory exporter, and the capture instrumented against both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.fakeprovider import FakeProvider
from otel_agent.genai.settings import GenAISettings
from otel_agent.processors import EnrichingSpanProcessor
from otel_agent.settings import Settings


@dataclass
class Rig:
    fake: FakeProvider
    provider: TracerProvider
    exporter: InMemorySpanExporter

    @property
    def openai_url(self) -> str:
        return self.fake.url + "/openai/v1"

    @property
    def anthropic_url(self) -> str:
        return self.fake.url + "/anthropic"

    @property
    def gemini_url(self) -> str:
        return self.fake.url + "/gemini"

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def llm_spans(self) -> list[ReadableSpan]:
        return [
            s for s in self.spans() if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) in A.LLM_OPERATIONS
        ]

    def one_llm_span(self) -> dict[str, Any]:
        spans = self.llm_spans()
        assert len(spans) == 1, [s.name for s in self.spans()]
        return dict(spans[0].attributes or {})


@contextmanager
def rig(fake: FakeProvider, **settings: Any) -> Iterator[Rig]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    quiet = Settings(markers=False, heartbeat_interval_s=0)
    provider.add_span_processor(EnrichingSpanProcessor([SimpleSpanProcessor(exporter)], settings=quiet))
    base_urls = {
        fake.url + "/openai": "openai",
        fake.url + "/anthropic": "anthropic",
        fake.url + "/gemini": "gcp.gemini",
    }
    genai.instrument(GenAISettings(**settings), tracer_provider=provider, base_urls=base_urls)
    try:
        yield Rig(fake, provider, exporter)
    finally:
        genai.uninstrument()
        provider.shutdown()
