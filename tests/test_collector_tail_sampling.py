"""Tail sampling keeps errored, slow and expensive runs whole however long they run (real gateway Collector).

A run's verdict is on its run span, which ends last. Spans of a run are exported as they end, so the
gateway sees a long run's children seconds or hours before its run span. The gateway decides shortly after
a trace's root arrives (decision_wait_after_root_received), and keeps a run still open when decision_wait
ends (its heartbeat markers), remembering that decision for the spans still to come.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from otel_agent import attributes as A
from tests.services import prometheus_server
from tests.stack_support import GatewayCollector, RecordingHttpBackend, RecordingTraceBackend, wait_until

pytestmark = [pytest.mark.collector, pytest.mark.prometheus]

DECISION_WAIT_S = 4


@dataclass
class Gateway:
    tempo: RecordingTraceBackend
    tracer: Tracer
    provider: TracerProvider


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work_dir = tmp_path_factory.mktemp("tail")
    tempo, sink, loki = RecordingTraceBackend(), RecordingTraceBackend(), RecordingHttpBackend()
    tempo.start()
    sink.start()
    try:
        with prometheus_server() as prom:
            collector = GatewayCollector(
                tempo.endpoint, sink.endpoint, loki.url, f"{prom}/api/v1/write", work_dir,
                extra_env={
                    "OTEL_AGENT_TAIL_DECISION_WAIT": f"{DECISION_WAIT_S}s",
                    "OTEL_AGENT_TAIL_ROOT_WAIT": "500ms",
                },
            )  # fmt: skip
            collector.process.start()
            # Each span leaves the application when it ends, as a long run's spans do in real life.
            provider = TracerProvider(resource=Resource.create({"service.name": "tail-test"}))
            exporter = OTLPSpanExporter(endpoint=collector.otlp_grpc, insecure=True)
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            try:
                yield Gateway(tempo, provider.get_tracer("tail-test"), provider)
            finally:
                provider.shutdown()
                collector.process.stop()
    finally:
        tempo.stop()
        sink.stop()
        loki.close()


def start_run(tracer: Tracer, name: str) -> Span:
    attrs = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.PROJECT: "books", A.STAGE: name}
    return tracer.start_span(f"invoke_agent {name}", attributes=attrs)


def child(tracer: Tracer, run: Span, name: str, **attrs: object) -> str:
    with trace.use_span(run, end_on_exit=False):
        span = tracer.start_span(name, attributes=attrs)  # type: ignore[arg-type]
        span.end()
    return format(span.get_span_context().span_id, "016x")


def span_id(span: Span) -> str:
    return format(span.get_span_context().span_id, "016x")


def trace_id(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def test_long_runs_are_kept_whole_and_cheap_short_ones_are_not(gateway: Gateway) -> None:
    tracer = gateway.tracer
    # 1. Errored, and its run span comes 2 s after its first spans (the old 1 s decision took them alone).
    errored = start_run(tracer, "errored")
    errored_ids = {child(tracer, errored, "chat gpt-4o"), child(tracer, errored, "execute_tool search")}
    # 2. Outlives the decision wait: its heartbeat keeps it; everything after follows the cached decision.
    long = start_run(tracer, "long")
    long_ids = {child(tracer, long, "chat gpt-4o")}
    long_ids.add(child(tracer, long, A.MARKER_SPAN_NAME, **{A.MARKER: A.MARKER_RUN_HEARTBEAT}))
    # 3. Cheap, fast, succeeded: sampled out (the rest is sampled at 0% here).
    cheap = start_run(tracer, "cheap")
    cheap_ids = {child(tracer, cheap, "chat gpt-4o")}
    cheap.end()
    cheap_ids.add(span_id(cheap))

    time.sleep(2)
    errored.set_status(Status(StatusCode.ERROR, "tool failed"))
    errored.set_attribute(A.RUN_STATUS, "failed")
    errored.end()
    errored_ids.add(span_id(errored))

    time.sleep(DECISION_WAIT_S + 1)  # the long run's trace is decided while the run is still open
    long_ids.add(child(tracer, long, "chat gpt-4o-mini"))  # a late span of a decided trace
    long.end()
    long_ids.add(span_id(long))

    tempo = gateway.tempo
    assert wait_until(lambda: errored_ids <= tempo.span_ids(), 20), "the errored run is not whole in Tempo"
    assert wait_until(lambda: long_ids <= tempo.span_ids(), 20), "the long run is not whole in Tempo"
    time.sleep(1)  # the cheap trace was decided long ago; nothing of it may arrive
    assert not (cheap_ids & tempo.span_ids())
    assert trace_id(cheap) not in tempo.trace_ids()
