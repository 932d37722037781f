"""Gateway Collector throughput: OTLP spans through collector-config/gateway.yaml (memory_limiter, scrub,
redaction, tail sampling, span metrics, persistent queue) until they reach the sink side.

Baseline, same run: the same OTLP requests sent straight to the receiving end, without the Collector.
`python -m bench collector`; needs the built Collector (collector-config/build.sh).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import yaml
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agent import attributes as A
from tests.services import free_port
from tests.stack_support import GATEWAY_CONFIG, GatewayCollector, RecordingHttpBackend, wait_until

RUNS, LLM_CALLS, TOOL_CALLS, BATCH, CLIENTS = 2_000, 6, 3, 512, 4
SPANS = RUNS * (1 + LLM_CALLS + TOOL_CALLS)


class CountingBackend(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP gRPC receiver that only counts spans, so the receiving end costs as little as possible."""

    def __init__(self) -> None:
        self.port, self.count, self._lock = free_port(), 0, threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        spans = sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
        with self._lock:
            self.count += spans
        return trace_service_pb2.ExportTraceServiceResponse()


BASE = {A.PROJECT: "books", A.STAGE: "draft", A.AGENT_ROLE: "writer"}


def llm_attributes(run: int, call: int) -> dict[str, Any]:
    return {
        **BASE,
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_PROVIDER_NAME: "openai",
        A.GEN_AI_REQUEST_MODEL: f"gpt-4o-{call % 3}",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1200,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
        A.COST_USD: 0.006,
        A.GEN_AI_INPUT_MESSAGES: json.dumps([{"role": "user", "content": f"chapter {run}"}]),
    }


def agent_spans() -> list[Any]:
    """RUNS agent runs: an invoke_agent span with LLM calls (tokens, cost, a prompt) and tool calls."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-collector"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for run in range(RUNS):
        with tracer.start_as_current_span(
            "invoke_agent writer", attributes={**BASE, A.GEN_AI_OPERATION_NAME: "invoke_agent"}
        ):
            for call in range(LLM_CALLS):
                tracer.start_span("chat gpt-4o", attributes=llm_attributes(run, call)).end()
            for tool in range(TOOL_CALLS):
                tracer.start_span(
                    f"execute_tool t{tool}", attributes={**BASE, A.GEN_AI_TOOL_NAME: f"t{tool}"}
                ).end()
    return list(exporter.get_finished_spans())


def requests() -> list[bytes]:
    spans = agent_spans()
    return [encode_spans(spans[i : i + BATCH]).SerializeToString() for i in range(0, len(spans), BATCH)]


def send_all(endpoint: str, payloads: list[bytes]) -> None:
    """CLIENTS concurrent gRPC clients, each sending its share of the pre-encoded requests."""

    def client(share: list[bytes]) -> None:
        with grpc.insecure_channel(endpoint) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=lambda b: b,
                response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
            )
            for payload in share:
                export(payload, timeout=60)

    with futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, [payloads[i::CLIENTS] for i in range(CLIENTS)]))


def timed(send: Callable[[], None], done: Callable[[], bool]) -> float:
    start = time.perf_counter()
    send()
    if not wait_until(done, 120, 0.02):
        raise RuntimeError("spans did not all arrive")
    return time.perf_counter() - start


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_queue_config(work: Path) -> Path:
    """gateway.yaml with every exporter's queue in memory (the Collector's default), for comparison."""
    config = yaml.safe_load(GATEWAY_CONFIG.read_text())
    for exporter in config["exporters"].values():
        exporter.get("sending_queue", {}).pop("storage", None)
    path = work / "gateway-memory-queue.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def through_gateway(payloads: list[bytes], config: Path | None) -> tuple[float, float, int]:
    """Seconds until the sink side has every span, the gateway's peak RSS (MiB), spans Tempo got."""
    sink, tempo, http = CountingBackend(), CountingBackend(), RecordingHttpBackend()
    work = Path(tempfile.mkdtemp(prefix="otel-agent-bench-"))
    gateway = GatewayCollector(
        f"127.0.0.1:{tempo.port}", f"127.0.0.1:{sink.port}", http.url, f"{http.url}/api/v1/write", work,
        sample_percent=10, config=config or GATEWAY_CONFIG,
    )  # fmt: skip
    gateway.process.start()
    try:
        endpoint = f"127.0.0.1:{gateway.ports['grpc']}"
        seconds = timed(lambda: send_all(endpoint, payloads), lambda: sink.count >= SPANS)
        rss = peak_rss_mib(gateway.process.pid)
        time.sleep(2)  # past the tail-sampling decision wait
        return seconds, rss, tempo.count
    finally:
        gateway.process.stop()
        sink.server.stop(None)
        tempo.server.stop(None)
        http.close()


def main() -> None:
    payloads = requests()
    direct = CountingBackend()
    baseline_s = timed(lambda: send_all(f"127.0.0.1:{direct.port}", payloads), lambda: direct.count >= SPANS)
    direct.server.stop(None)
    persistent_s, rss, sampled = through_gateway(payloads, None)
    memory_s, memory_rss, _ = through_gateway(payloads, memory_queue_config(Path(tempfile.mkdtemp())))
    print(f"{SPANS:,} spans ({RUNS:,} runs), {len(payloads)} OTLP requests of <= {BATCH}, {CLIENTS} clients")
    rows = [
        ("baseline: straight to the receiver", baseline_s, ""),
        ("gateway.yaml (persistent queues) to the sink side", persistent_s, f"peak RSS {rss:.0f} MiB"),
        ("gateway.yaml with in-memory queues", memory_s, f"peak RSS {memory_rss:.0f} MiB"),
    ]
    for name, seconds, note in rows:
        print(f"{name:<52} {SPANS / seconds:>9,.0f} spans/s {baseline_s / seconds:>6.3f}x  {note}")
    print(f"Tempo side got {sampled:,} of {SPANS:,} spans after tail sampling (10% of ordinary traces)")
