"""OTLP/gRPC receiver with real clients: the OTel SDK's OTLP exporters and raw gRPC stubs."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_agent.record import SpanRecord
from tests.services import missing
from tests.sink_support import GatedWriter, counter, pb_request, pb_span, running_sink, wait_until


def sdk_spans(count: int) -> list[ReadableSpan]:
    """Finished SDK spans of a small agent run: what a Python app would export."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "writer-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(
        "invoke_agent writer", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        for n in range(count - 1):
            with tracer.start_as_current_span(f"chat {n}", kind=SpanKind.CLIENT) as span:
                span.set_attribute("gen_ai.usage.input_tokens", n)
                span.set_attribute("tags", ["a", "b"])
                span.set_status(StatusCode.ERROR, "rate limited")
    provider.shutdown()
    return list(memory.get_finished_spans())


def assert_same(records: Sequence[SpanRecord], spans: Sequence[ReadableSpan]) -> None:
    by_id = {r.span_id: r for r in records}
    assert len(by_id) == len(spans)
    for span in spans:
        record = by_id[f"{span.context.span_id:016x}"]
        assert record.trace_id == f"{span.context.trace_id:032x}"
        assert record.parent_span_id == (f"{span.parent.span_id:016x}" if span.parent else None)
        assert record.name == span.name and record.kind == span.kind.name
        assert (record.start_time_unix_nano, record.end_time_unix_nano) == (span.start_time, span.end_time)
        assert record.status_code == span.status.status_code.name
        assert record.status_message == span.status.description
        assert record.attributes == {
            k: tuple(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()
        }
        assert record.resource_attributes["service.name"] == "writer-agent"


@pytest.mark.parametrize(
    ("transport", "gzip"), [("grpc", False), ("grpc", True), ("http", False), ("http", True)]
)
def test_real_otlp_exporters_deliver_spans_unchanged(transport: str, gzip: bool) -> None:
    writer = GatedWriter()
    spans = sdk_spans(5)
    with running_sink(writer) as sink:
        exporter: GrpcExporter | HttpExporter
        if transport == "grpc":
            compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
            exporter = GrpcExporter(f"127.0.0.1:{sink.grpc_port}", insecure=True, compression=compression)
        else:
            exporter = HttpExporter(
                f"http://127.0.0.1:{sink.http_port}/v1/traces",
                compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
            )
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    assert_same(writer.records, spans)  # stop() flushed


def stub(port: int) -> tuple[grpc.Channel, TraceServiceStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return channel, TraceServiceStub(channel)


def test_invalid_spans_get_partial_success_and_valid_ones_are_kept() -> None:
    writer = GatedWriter()
    with running_sink(writer) as sink:
        channel, client = stub(sink.grpc_port)
        request = pb_request([pb_span(1), pb_span(2, trace_id=b"\x01"), pb_span(3, kind=12), pb_span(4)])
        response = client.Export(request, timeout=10)
        channel.close()
        assert response.partial_success.rejected_spans == 2
        assert "trace_id must be 16 bytes" in response.partial_success.error_message
        assert "unknown span kind 12" in response.partial_success.error_message
    assert sorted(writer.span_ids()) == ["0000000000000001", "0000000000000004"]


def test_full_queue_answers_resource_exhausted_with_retry_info_in_both_trailers() -> None:
    writer = GatedWriter()
    writer.open.clear()
    with running_sink(
        writer, sink_queue_spans=2, sink_batch_spans=2, sink_writers=1, sink_retry_after_s=1.5
    ) as sink:
        channel, client = stub(sink.grpc_port)
        client.Export(pb_request([pb_span(1), pb_span(2)]), timeout=10)
        assert writer.entered.wait(30)
        client.Export(pb_request([pb_span(3), pb_span(4)]), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            client.Export(pb_request([pb_span(5)]), timeout=10)
        writer.open.set()
        channel.close()
    error = refused.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
    rich = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert rich.details[0].Unpack(info) and info.retry_delay.ToNanoseconds() == 1_500_000_000
    plain = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert plain.retry_delay.seconds == 1 and plain.retry_delay.nanos == 500_000_000
    assert sorted(writer.span_ids()) == [f"{n:016x}" for n in range(1, 5)]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_real_exporter_backs_off_on_a_flood_and_loses_nothing(transport: str) -> None:
    """One client floods a slow sink: refused batches are retried by the exporter until accepted
    (gRPC: RESOURCE_EXHAUSTED + RetryInfo; HTTP: 429 + Retry-After)."""
    writer = GatedWriter()
    writer.open.clear()
    batches = [sdk_spans(50) for _ in range(6)]
    results: list[SpanExportResult] = []
    with running_sink(
        writer, sink_queue_spans=60, sink_batch_spans=50, sink_writers=1, sink_retry_after_s=1.0
    ) as sink:
        exporter: GrpcExporter | HttpExporter
        if transport == "grpc":
            exporter = GrpcExporter(endpoint=f"127.0.0.1:{sink.grpc_port}", insecure=True, timeout=30)
        else:
            exporter = HttpExporter(endpoint=f"http://127.0.0.1:{sink.http_port}/v1/traces", timeout=30)

        def flood() -> None:
            results.extend(exporter.export(batch) for batch in batches)

        sender = threading.Thread(target=flood)
        sender.start()
        assert wait_until(lambda: counter(sink.metrics, "otel_agent_sink_requests_refused_total") > 0)
        writer.open.set()  # the database recovers
        sender.join(60)
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 6
    expected = {f"{s.context.span_id:016x}" for batch in batches for s in batch}
    assert sorted(writer.span_ids()) == sorted(expected)  # every span exactly once


def test_oversized_message_is_refused_by_grpc_and_the_service_stays_up() -> None:
    writer = GatedWriter()
    with running_sink(writer, sink_max_request_bytes=4096) as sink:
        channel, client = stub(sink.grpc_port)
        big = pb_request([pb_span(n, name="x" * 100) for n in range(1, 100)])
        with pytest.raises(grpc.RpcError) as refused:
            client.Export(big, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        client.Export(pb_request([pb_span(1)]), timeout=10)
        channel.close()
    assert writer.span_ids() == ["0000000000000001"]


def test_malformed_protobuf_is_refused_and_the_service_stays_up() -> None:
    writer = GatedWriter()
    with running_sink(writer) as sink:
        channel = grpc.insecure_channel(f"127.0.0.1:{sink.grpc_port}")
        raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as refused:
            raw(b"\xff\xff\xff\xff", timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert "not an OTLP protobuf trace request" in refused.value.details()  # type: ignore[attr-defined]
        channel.close()
        channel, client = stub(sink.grpc_port)
        client.Export(pb_request([pb_span(1)]), timeout=10)
        channel.close()
    assert writer.span_ids() == ["0000000000000001"]


def test_bearer_token_over_grpc() -> None:
    writer = GatedWriter()
    spans = sdk_spans(2)
    with running_sink(writer, sink_bearer_token="t0ken") as sink:
        channel, client = stub(sink.grpc_port)
        with pytest.raises(grpc.RpcError) as refused:
            client.Export(pb_request([pb_span(1)]), metadata=(("authorization", "Bearer nope"),), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        channel.close()
        exporter = GrpcExporter(
            endpoint=f"127.0.0.1:{sink.grpc_port}", insecure=True, headers={"authorization": "Bearer t0ken"}
        )
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    assert len(writer.records) == 2


def self_signed(tmp: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("openssl is needed to make a test certificate")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_on_both_receivers(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    writer = GatedWriter()
    spans = sdk_spans(3)
    with running_sink(writer, sink_tls_cert_file=str(cert), sink_tls_key_file=str(key)) as sink:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        exporter = GrpcExporter(endpoint=f"localhost:{sink.grpc_port}", credentials=credentials)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
        body = pb_request([pb_span(1)]).SerializeToString()
        response = httpx.post(
            f"https://localhost:{sink.http_port}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
            verify=ssl.create_default_context(cafile=str(cert)),
            timeout=10,
        )
        assert response.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP to a TLS port is not served
            httpx.post(f"http://127.0.0.1:{sink.http_port}/v1/traces", content=body, timeout=5)
    assert len(writer.records) == 4


def test_graceful_shutdown_flushes_everything_accepted() -> None:
    writer = GatedWriter()
    writer.open.clear()  # hold the first batch so the rest is certainly still queued at stop()
    with running_sink(writer, sink_batch_spans=10, sink_writers=1) as sink:
        channel, client = stub(sink.grpc_port)
        for first in range(0, 200, 20):
            client.Export(pb_request([pb_span(n + 1) for n in range(first, first + 20)]), timeout=10)
        channel.close()
        assert writer.entered.wait(30)
        assert sink.queue.depth == 190  # 10 are in the (held) writer
        writer.open.set()
        assert sink.stop()
        port = sink.grpc_port
    written = writer.records
    assert len(written) == 200
    channel, client = stub(port)
    with pytest.raises(grpc.RpcError) as after:
        client.Export(pb_request([pb_span(1)]), timeout=2)
    assert after.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)  # type: ignore[attr-defined]
    channel.close()
