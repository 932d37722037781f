"""Content leaves the gateway only when OTEL_AGENT_COLLECTOR_KEEP_CONTENT=true; credentials never do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import attributes as A
from tests.stack_support import (
    GatewayCollector,
    ReceivedSpan,
    RecordingHttpBackend,
    RecordingTraceBackend,
    wait_until,
)

pytestmark = pytest.mark.collector
PROMPT = '[{"role": "user", "content": "the plot of chapter 3"}]'
SECRET = "sk-ant-" + "x9Y8z7W6" * 4


def through_gateway(keep_content: str, work_dir: Path) -> Iterator[ReceivedSpan]:
    tempo, sink, http = RecordingTraceBackend(), RecordingTraceBackend(), RecordingHttpBackend()
    tempo.start()
    sink.start()
    gateway = GatewayCollector(
        tempo.endpoint, sink.endpoint, http.url, f"{http.url}/api/v1/write",
        work_dir,
        extra_env={"OTEL_AGENT_COLLECTOR_KEEP_CONTENT": keep_content},
    )  # fmt: skip
    gateway.process.start()
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=gateway.otlp_grpc, insecure=True))
    )
    try:
        attrs = {A.GEN_AI_INPUT_MESSAGES: PROMPT, "gen_ai.provider.api_key": SECRET, "error.message": SECRET}
        provider.get_tracer("content").start_span("chat gpt-4o", attributes=attrs).end()
        assert wait_until(lambda: bool(sink.snapshot()), 20), gateway.process.log_tail()
        yield from sink.snapshot()
    finally:
        provider.shutdown()
        gateway.process.stop()
        tempo.stop()
        sink.stop()
        http.close()


def test_content_kept_when_allowed_but_credentials_still_removed(tmp_path: Path) -> None:
    (span,) = list(through_gateway("true", tmp_path))
    assert span.attributes[A.GEN_AI_INPUT_MESSAGES] == PROMPT
    assert "gen_ai.provider.api_key" not in span.attributes  # credential-named: deleted
    assert SECRET not in str(span.attributes)  # key-shaped value elsewhere: masked
    assert "error.message" in span.attributes


def test_content_removed_by_default(tmp_path: Path) -> None:
    (span,) = list(through_gateway("false", tmp_path))
    assert A.GEN_AI_INPUT_MESSAGES not in span.attributes
    assert SECRET not in str(span.attributes)
