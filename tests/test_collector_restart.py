"""A Collector restart or a sink outage in the middle of runs loses no run: the gateway's sending queue to
the sink is persistent (file_storage) and retries without a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_agent import attributes as A
from tests.stack_support import (
    GATEWAY_CONFIG,
    GatewayCollector,
    RecordingHttpBackend,
    RecordingTraceBackend,
    wait_until,
)

pytestmark = pytest.mark.collector


@pytest.fixture
def backends() -> Iterator[tuple[RecordingTraceBackend, RecordingTraceBackend, RecordingHttpBackend]]:
    tempo, sink, http = RecordingTraceBackend(), RecordingTraceBackend(), RecordingHttpBackend()
    tempo.start()
    try:
        yield tempo, sink, http
    finally:
        tempo.stop()
        sink.stop()
        http.close()


def gateway(
    tempo: RecordingTraceBackend,
    sink: RecordingTraceBackend,
    http: RecordingHttpBackend,
    work_dir: Path,
    config: Path = GATEWAY_CONFIG,
) -> GatewayCollector:
    write_url = f"{http.url}/api/v1/write"
    return GatewayCollector(tempo.endpoint, sink.endpoint, http.url, write_url, work_dir, config=config)


def in_memory_queue_config(tmp_path: Path) -> Path:
    """gateway.yaml with the sink's queue kept in memory only, as the Collector does by default."""
    config = yaml.safe_load(GATEWAY_CONFIG.read_text())
    del config["exporters"]["otlp_grpc/sink"]["sending_queue"]["storage"]
    path = tmp_path / "gateway-memory-queue.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tracer_to(collector: GatewayCollector) -> tuple[TracerProvider, trace.Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": "restart-test"}))
    exporter = OTLPSpanExporter(endpoint=collector.otlp_grpc, insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    return provider, provider.get_tracer("restart-test")


def steps(tracer: trace.Tracer, count: int, stage: str) -> set[str]:
    """Child steps of the current run; returns their span ids."""
    ids = set()
    for i in range(count):
        with tracer.start_as_current_span(f"execute_tool step-{i}", attributes={A.STAGE: stage}) as span:
            ids.add(format(span.get_span_context().span_id, "016x"))
    return ids


def restart_mid_run(collector: GatewayCollector, sink: RecordingTraceBackend, wait_s: float = 30) -> set[str]:
    """Run 41 spans through a gateway restarted mid-run while the sink is down; return the span ids lost."""
    collector.process.start()
    provider, tracer = tracer_to(collector)
    expected: set[str] = set()
    try:
        # A run starts; its first steps reach the gateway while the sink is down: they wait in the queue.
        run = tracer.start_span(
            "invoke_workflow books", attributes={A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW}
        )
        with trace.use_span(run, end_on_exit=False):
            expected |= steps(tracer, 20, "draft")
            assert provider.force_flush(10_000)
            # The gateway restarts mid-run (graceful stop: a persistent queue stays on disk).
            collector.process.stop()
            collector.process.start()
            expected |= steps(tracer, 20, "edit")
        run.end()
        expected.add(format(run.get_span_context().span_id, "016x"))
        assert provider.force_flush(10_000)
        sink.start()  # the sink comes back: what was queued before and after the restart is delivered
        wait_until(lambda: expected <= sink.span_ids(), wait_s)
        return expected - sink.span_ids()
    finally:
        provider.shutdown()
        collector.process.stop()


def test_runs_survive_a_collector_restart_while_the_sink_is_down(
    backends: tuple[RecordingTraceBackend, RecordingTraceBackend, RecordingHttpBackend], tmp_path: Path
) -> None:
    tempo, sink, http = backends
    collector = gateway(tempo, sink, http, tmp_path)
    lost = restart_mid_run(collector, sink)
    assert not lost, f"{len(lost)} spans lost\n{collector.process.log_tail()}"


def test_an_in_memory_queue_would_lose_them(
    backends: tuple[RecordingTraceBackend, RecordingTraceBackend, RecordingHttpBackend], tmp_path: Path
) -> None:
    """The persistent queue is what saves them: without it the same restart loses the first steps."""
    tempo, sink, http = backends
    lost = restart_mid_run(
        gateway(tempo, sink, http, tmp_path, in_memory_queue_config(tmp_path)), sink, wait_s=5
    )
    assert len(lost) >= 20


def test_without_the_sink_coming_back_nothing_arrives(
    backends: tuple[RecordingTraceBackend, RecordingTraceBackend, RecordingHttpBackend], tmp_path: Path
) -> None:
    """The check above can fail: with the sink never started, the recorder stays empty."""
    tempo, sink, http = backends
    collector = gateway(tempo, sink, http, tmp_path)
    collector.process.start()
    provider, tracer = tracer_to(collector)
    try:
        with tracer.start_as_current_span("invoke_workflow books"):
            steps(tracer, 5, "draft")
        assert provider.force_flush(10_000)
        assert not wait_until(lambda: bool(sink.span_ids()), 2)
    finally:
        provider.shutdown()
        collector.process.stop()
