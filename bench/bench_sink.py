"""Sink ingest over OTLP gRPC into PostgreSQL, beside the SQL exporter's own figure on the same spans."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_agent import attributes as A
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.record import SpanRecord
from otel_agent.record_sdk import record_from_span
from otel_agent.settings import Settings
from otel_agent.store import Materialiser, make_engine
from tests.services import create_database, free_port, postgres_server, wait_for_port

STEPS_PER_RUN = 11  # 8 LLM calls and 3 tool calls under one invoke_agent span: 12 spans per run


def make_spans(runs: int, seed: int = 7) -> list[ReadableSpan]:
    """Finished SDK spans of ``runs`` agent runs with realistic attributes (tokens, models, attribution)."""
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({A.SERVICE_NAME: "bench-writer"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for n in range(runs):
        who = {A.PROJECT: f"project-{n % 5}", A.STAGE: f"stage-{n % 3}", A.AGENT_ROLE: "writer"}
        run_attrs = {**who, A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.GEN_AI_AGENT_NAME: "writer"}
        with tracer.start_as_current_span("invoke_agent writer", attributes=run_attrs):
            for step in range(STEPS_PER_RUN):
                if step % 4 == 3:
                    _tool_call(tracer, who)
                else:
                    _llm_call(tracer, who, rng)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _llm_call(tracer, who: dict, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
        span.set_attributes({**who, A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.GEN_AI_PROVIDER_NAME: "openai"})
        span.set_attributes({A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"})
        span.set_attributes(
            {
                A.GEN_AI_USAGE_INPUT_TOKENS: rng.randint(100, 4000),
                A.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randint(10, 900),
            }
        )
        if rng.random() < 0.02:
            span.set_attribute(A.ERROR_TYPE, "RateLimitError")
            span.set_status(StatusCode.ERROR, "429 Too Many Requests")


def _tool_call(tracer, who: dict) -> None:  # type: ignore[no-untyped-def]
    attrs = {**who, A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL, A.GEN_AI_TOOL_NAME: "search"}
    with tracer.start_as_current_span("execute_tool search", attributes=attrs):
        pass


# --- measurements ------------------------------------------------------------------------------------

RUNS = 2_500  # x 12 spans = 30,000 spans
REQUEST_SPANS = 512  # spans per OTLP request, as the SDK's BatchSpanProcessor sends them
CLIENTS = 4  # concurrent gRPC clients (a Collector's exporter uses several consumers)
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def fresh_database(server_url: str) -> str:
    return create_database(server_url, prefix="bench_")


def sql_exporter_rate(url: str, spans: list[ReadableSpan], spool: Path) -> float:
    """The SQL exporter's own figure: export() in BatchSpanProcessor-sized batches, schema ready."""
    exporter = SqlSpanExporter(url, spool_dir=spool)
    exporter.export(spans[:1])  # creates the schema outside the timing
    started = time.perf_counter()
    for i in range(1, len(spans), REQUEST_SPANS):
        exporter.export(spans[i : i + REQUEST_SPANS])
    elapsed = time.perf_counter() - started
    exporter.shutdown()
    return (len(spans) - 1) / elapsed


def materialiser_rate(url: str, records: list[SpanRecord], batch: int) -> float:
    materialiser = Materialiser(make_engine(url))
    materialiser.write(records[:1])
    started = time.perf_counter()
    for i in range(1, len(records), batch):
        materialiser.write(records[i : i + batch])
    elapsed = time.perf_counter() - started
    materialiser.engine.dispose()
    return (len(records) - 1) / elapsed


class SinkProcess:
    """``python -m otel_agent.sink`` on loopback ports, with its metrics page and memory readable.
    ``root``: run the sink of another checkout (e.g. /work/main, the code before a change)."""

    def __init__(self, url: str, root: str | None = None, **env: str) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        command = [sys.executable, "-m", "otel_agent.sink", "--grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
                   "--http-endpoint", f"127.0.0.1:{self.http_port}", "--database-url", url]  # fmt: skip
        self._journal = tempfile.mkdtemp(prefix="bench-sink-journal-")
        environ = {**os.environ, "OTEL_AGENT_SINK_JOURNAL_DIR": self._journal}
        environ.update({f"OTEL_AGENT_SINK_{k.upper()}": v for k, v in env.items()})
        if root:
            environ["PYTHONPATH"] = root
        self.process = subprocess.Popen(
            command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root
        )
        if not wait_for_port(self.http_port, 60):
            raise RuntimeError("the sink did not start")

    def metric(self, name: str) -> float:
        page = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines() if line.startswith(name + "{"))

    def memory_kib(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak) of the sink process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        shutil.rmtree(self._journal, ignore_errors=True)


def send_all(port: int, bodies: list[bytes], retry_after_s: float = 0.05) -> int:
    """Send pre-encoded requests from CLIENTS threads, resending on UNAVAILABLE; returns refusals."""
    refusals = [0] * CLIENTS

    def client(k: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT)
            for body in bodies[k::CLIENTS]:
                while True:
                    try:
                        export(body, timeout=30)
                        break
                    except grpc.RpcError as exc:
                        if exc.code() not in RETRYABLE:  # type: ignore[attr-defined]
                            raise
                        refusals[k] += 1
                        time.sleep(retry_after_s)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(refusals)


def wait_written(sink: SinkProcess, total: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while sink.metric("otel_agent_sink_spans_written_total") < total:
        if time.monotonic() > deadline:
            raise RuntimeError("the sink did not write everything in time")
        time.sleep(0.05)


def sink_rates(
    url: str, bodies: list[bytes], total: int, writers: int, root: str | None = None
) -> dict[str, float]:
    """Accepted and written spans/s (and peak memory) for one sink whose queue holds everything."""
    sink = SinkProcess(url, root, writers=str(writers), queue_spans=str(total + 1000))
    try:
        send_all(sink.grpc_port, bodies[:1])  # schema and connections warm
        first = bodies_spans(bodies[:1])
        wait_written(sink, first)
        started = time.perf_counter()
        send_all(sink.grpc_port, bodies[1:])
        accepted = time.perf_counter() - started
        wait_written(sink, total)
        written = time.perf_counter() - started
        peak_kib = sink.memory_kib("VmHWM")
    finally:
        sink.stop()
    rest = total - first
    return {"accepted": rest / accepted, "written": rest / written, "peak_mib": peak_kib / 1024}


def burst(
    url: str, bodies: list[bytes], total: int, queue_spans: int | None = None, root: str | None = None
) -> dict[str, float]:
    """A burst of ``total`` spans into a queue of ``queue_spans`` (None: the default): refusals, peak
    memory, nothing lost."""
    queue = {} if queue_spans is None else {"queue_spans": str(queue_spans)}
    sink = SinkProcess(url, root, retry_after="0.05", **queue)
    try:
        time.sleep(0.5)
        idle_kib = sink.memory_kib("VmRSS")
        started = time.perf_counter()
        refusals = send_all(sink.grpc_port, bodies)
        wait_written(sink, total)
        elapsed = time.perf_counter() - started
        peak_kib = sink.memory_kib("VmHWM")
    finally:
        sink.stop()
    return {
        "idle_mib": idle_kib / 1024,
        "peak_mib": peak_kib / 1024,
        "refusals": refusals,
        "rate": total / elapsed,
    }


def bodies_spans(bodies: list[bytes]) -> int:
    return sum(sum(len(s.spans) for r in _req(b).resource_spans for s in r.scope_spans) for b in bodies)


def _req(body: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(body)


ROUNDS = 3  # each figure is the best of this many, taken in turns: the machine is shared and noisy


def best_rates(server: str, spans: list[ReadableSpan], bodies: list[bytes], spool: Path) -> dict[str, Any]:
    """Every throughput figure, each the best of ROUNDS interleaved rounds on fresh databases."""
    records = [record_from_span(s) for s in spans]
    batch = Settings().sink_batch_spans  # what the sink hands the materialiser at most
    best: dict[str, Any] = {}

    def keep(name: str, value: Any, key: Callable[[Any], float] = float) -> None:
        if name not in best or key(value) > key(best[name]):
            best[name] = value

    for _ in range(ROUNDS):
        keep("exporter", sql_exporter_rate(fresh_database(server), spans, spool / uuid.uuid4().hex))
        keep("direct", materialiser_rate(fresh_database(server), records, batch))
        for writers in (1, 2):
            rates = sink_rates(fresh_database(server), bodies, len(spans), writers)
            keep(f"sink{writers}", rates, key=lambda r: float(r["written"]))
    return best


def main() -> None:
    spans = make_spans(RUNS)
    bodies = [
        encode_spans(spans[i : i + REQUEST_SPANS]).SerializeToString() for i in range(0, len(spans), 512)
    ]
    total = len(spans)
    print(f"{total} spans ({RUNS} agent runs of 12), {len(bodies)} OTLP requests, {CLIENTS} gRPC clients, "
          f"best of {ROUNDS} rounds")  # fmt: skip
    with postgres_server() as server, tempfile.TemporaryDirectory() as tmp:
        best = best_rates(server, spans, bodies, Path(tmp) / "spool")
        base, direct = best["exporter"], best["direct"]
        print(f"baseline: SqlSpanExporter.export (batches of {REQUEST_SPANS}) {base:8,.0f} spans/s")
        print(f"Materialiser.write directly (sink batch size) {direct:8,.0f} spans/s ({direct / base:.2f}x)")
        for writers in (1, 2):
            r = best[f"sink{writers}"]
            written = r["written"]
            print(f"sink, {writers} writer(s): written {written:8,.0f} spans/s ({written / base:.2f}x); "
                  f"accepted {r['accepted']:8,.0f} spans/s ({r['accepted'] / base:.2f}x); "
                  f"peak RSS {r['peak_mib']:.0f} MiB with a queue holding all")  # fmt: skip
        queue = total // 10
        b = burst(fresh_database(server), bodies, total, queue)
        print(f"10x burst into a {queue}-span queue: {b['refusals']:.0f} requests refused (UNAVAILABLE) "
              f"and resent, none lost, {b['rate']:,.0f} spans/s; "
              f"RSS {b['idle_mib']:.0f} MiB idle, {b['peak_mib']:.0f} MiB peak [{load()}]")  # fmt: skip
    main_compare()


# --- before / after: the same measurements against another checkout's sink, interleaved -------------

BEFORE_ROOT = os.environ.get("BENCH_SINK_BEFORE", "/work/main")  # the code before the change
KEEPALIVE_REQUESTS = 300


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def keepalive_rate(url: str, root: str | None) -> tuple[float, float]:
    """Requests per second on one keep-alive connection, answers awaited: OTLP/JSON posts (10 spans
    each), and GET /healthz (the transport alone: no decoding, no writing)."""
    spans = make_spans(1)[:10]
    document = json.loads(_json_body(spans))
    body = json.dumps(document).encode()
    sink = SinkProcess(url, root)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{sink.http_port}", timeout=30) as client:
            headers = {"Content-Type": "application/json"}
            client.post("/v1/traces", content=body, headers=headers)
            started = time.perf_counter()
            for _ in range(KEEPALIVE_REQUESTS):
                assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
            posts = KEEPALIVE_REQUESTS / (time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(KEEPALIVE_REQUESTS):
                assert client.get("/healthz").status_code == 200
            return posts, KEEPALIVE_REQUESTS / (time.perf_counter() - started)
    finally:
        sink.stop()


def _json_body(spans: list[ReadableSpan]) -> str:
    from google.protobuf import json_format

    text = json_format.MessageToJson(encode_spans(spans), indent=None)
    document = json.loads(text)
    for resource in document["resourceSpans"]:  # OTLP/JSON ids are hex, not protobuf JSON's base64
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document)


def http_accept_rate(url: str, bodies: list[bytes], root: str | None) -> float:
    """Spans/s accepted over OTLP/HTTP protobuf from CLIENTS keep-alive clients (queue holds all)."""
    total = bodies_spans(bodies)
    sink = SinkProcess(url, root, queue_spans=str(total + 1000))
    try:
        def client(k: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{sink.http_port}", timeout=60) as http:
                for body in bodies[k::CLIENTS]:
                    response = http.post("/v1/traces", content=body, headers=PROTOBUF_HEADERS)
                    assert response.status_code == 200, response.status_code

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return total / (time.perf_counter() - started)
    finally:
        sink.stop()


PROTOBUF_HEADERS = {"Content-Type": "application/x-protobuf"}


def before_after(server: str, bodies: list[bytes]) -> None:
    """Keep-alive JSON requests/s and HTTP accept rate, old sink vs this one, ROUNDS interleaved rounds."""
    if not Path(BEFORE_ROOT, "otel_agent", "sink").is_dir():
        print(f"(no checkout at {BEFORE_ROOT}: before/after skipped)")
        return
    for _ in range(ROUNDS):
        for label, root in (("before", BEFORE_ROOT), ("after", None)):
            rps, probes = keepalive_rate(fresh_database(server), root)
            http = http_accept_rate(fresh_database(server), bodies, root)
            grpc_rates = sink_rates(fresh_database(server), bodies, bodies_spans(bodies), 1, root)
            accepted, written = grpc_rates["accepted"], grpc_rates["written"]
            print(f"{label:6}: one keep-alive connection: {rps:5,.0f} OTLP/JSON posts/s, "
                  f"{probes:5,.0f} GET/s; OTLP/HTTP protobuf accepted {http:8,.0f} spans/s ({CLIENTS} "
                  f"clients); OTLP/gRPC accepted {accepted:8,.0f}, written to PostgreSQL {written:8,.0f}"
                  f" spans/s [{load()}]", flush=True)  # fmt: skip


def default_queue_burst(server: str, bodies: list[bytes]) -> None:
    """Ten times the default queue in one burst (the requests repeat: duplicates cost the same)."""
    queue = Settings().sink_queue_spans
    per_body = bodies_spans(bodies) / len(bodies)
    repeat = int(10 * queue / per_body / len(bodies)) + 1
    burst_bodies = (bodies * repeat)[: int(10 * queue / per_body) + 1]
    total = bodies_spans(burst_bodies)
    b = burst(fresh_database(server), burst_bodies, total)
    print(f"10x burst at the default queue ({queue:,} spans): {total:,} spans, {b['refusals']:.0f} requests "
          f"refused and resent, none lost, {b['rate']:,.0f} spans/s; RSS {b['idle_mib']:.0f} MiB idle, "
          f"{b['peak_mib']:.0f} MiB peak [{load()}]", flush=True)  # fmt: skip


def main_compare() -> None:
    spans = make_spans(RUNS)
    bodies = [encode_spans(spans[i : i + 512]).SerializeToString() for i in range(0, len(spans), 512)]
    with postgres_server() as server:
        before_after(server, bodies)
        default_queue_burst(server, bodies)
