"""OTLP/HTTP receiver against a real HTTP client: encodings, bad input, backpressure, health, metrics."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_agent.sink.http_server import SinkHttpServer
from otel_agent.sink.service import SinkService
from tests.sink_support import GatedWriter, counter, pb_request, pb_span, running_sink, wait_until

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def writer() -> GatedWriter:
    return GatedWriter()


@pytest.fixture
def sink(writer: GatedWriter) -> Iterator[SinkService]:
    with running_sink(writer, sink_grpc_endpoint="none", sink_max_request_bytes=64 * 1024) as service:
        yield service


@pytest.fixture
def client(sink: SinkService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{sink.http_port}", timeout=10) as http:
        yield http


def test_protobuf_request_is_accepted_and_written(client: httpx.Client, writer: GatedWriter) -> None:
    response = client.post(
        "/v1/traces", content=pb_request([pb_span(1), pb_span(2)]).SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert wait_until(lambda: len(writer.records) == 2)


def test_gzip_json_request_with_a_bad_span_gets_partial_success(
    client: httpx.Client, writer: GatedWriter
) -> None:
    good = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "00f067aa0ba902b7",
        "name": "ok",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000000001",
    }
    bad = {**good, "spanId": "nothex!!", "name": "bad"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]}
    response = client.post(
        "/v1/traces",
        content=gzip.compress(json.dumps(document).encode()),
        headers={"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1 and "spanId 'nothex!!'" in partial["errorMessage"]
    assert wait_until(lambda: writer.span_ids() == ["00f067aa0ba902b7"])


@pytest.mark.parametrize(
    ("headers", "body", "status", "text"),
    [
        ({"Content-Type": "text/plain"}, b"hi", 415, "Content-Type must be"),
        ({}, b"hi", 415, "Content-Type must be"),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"hi", 415, "Content-Encoding must be gzip"),
        # mtime=0 below: a body is part of its test's id, which every pytest-xdist worker must build alike
        (PROTOBUF, b"\xff\xff\xff\xff", 400, "not an OTLP protobuf trace request"),
        ({"Content-Type": "application/json"}, b"{", 400, "not valid JSON"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400, "not valid gzip"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(b"x" * 100, mtime=0)[:20], 400, "truncated"),
        (PROTOBUF, b"x" * (64 * 1024 + 1), 413, "exceeds the 65536-byte limit"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(bytes(10**6), mtime=0), 413, "inflates"),
    ],
)
def test_bad_requests_get_a_clear_status_and_the_service_stays_up(
    client: httpx.Client, sink: SinkService, headers: dict, body: bytes, status: int, text: str
) -> None:
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == status
    assert text in _status_message(response)
    assert client.get("/healthz").status_code == 200
    assert counter(sink.metrics, "otel_agent_sink_requests_failed_total") == 1


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.post("/v1/logs", content=b"", headers=PROTOBUF).status_code == 404
    assert client.get("/nope").status_code == 404


def test_full_queue_answers_429_with_retry_after_and_keeps_nothing_of_that_request(
    writer: GatedWriter,
) -> None:
    writer.open.clear()  # the database "hangs": the first batch is held inside write()
    with (
        running_sink(
            writer,
            sink_grpc_endpoint="none",
            sink_queue_spans=4,
            sink_batch_spans=4,
            sink_retry_after_s=2.5,
            sink_writers=1,
        ) as sink,
        httpx.Client(base_url=f"http://127.0.0.1:{sink.http_port}", timeout=10) as client,
    ):

        def post(first: int) -> httpx.Response:
            body = pb_request([pb_span(n) for n in range(first, first + 4)]).SerializeToString()
            return client.post("/v1/traces", content=body, headers=PROTOBUF)

        assert post(1).status_code == 200
        assert writer.entered.wait(30)  # batch 1 is in the writer; the queue is empty again
        assert post(5).status_code == 200  # fills the queue
        refused = post(9)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
        assert status_pb2.Status.FromString(refused.content).code == 8  # RESOURCE_EXHAUSTED
        assert "queue is full" in status_pb2.Status.FromString(refused.content).message
        assert client.get("/readyz").status_code == 503
        writer.open.set()
        assert wait_until(lambda: len(writer.records) == 8)
        assert post(9).status_code == 200  # the client's retry succeeds
        assert wait_until(lambda: len(writer.records) == 12)
        assert counter(sink.metrics, "otel_agent_sink_requests_refused_total") == 1  # before decoding it
    assert sorted(int(s, 16) for s in writer.span_ids()) == list(range(1, 13))


def test_bearer_token_is_required_when_configured(writer: GatedWriter) -> None:
    with (
        running_sink(writer, sink_grpc_endpoint="none", sink_bearer_token="s3cret") as sink,
        httpx.Client(base_url=f"http://127.0.0.1:{sink.http_port}", timeout=10) as client,
    ):
        body = pb_request([pb_span(1)]).SerializeToString()
        for auth in (None, "Bearer wrong", "s3cret", "Bearer s3cret2"):
            headers = {**PROTOBUF, **({"Authorization": auth} if auth else {})}
            refused = client.post("/v1/traces", content=body, headers=headers)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        ok = client.post("/v1/traces", content=body, headers={**PROTOBUF, "Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/healthz").status_code == 200  # probes need no token
        assert wait_until(lambda: len(writer.records) == 1)


def test_chunked_body_is_read(client: httpx.Client, writer: GatedWriter) -> None:
    body = pb_request([pb_span(1)]).SerializeToString()
    response = client.post("/v1/traces", content=iter([body[:10], body[10:]]), headers=PROTOBUF)
    assert response.status_code == 200
    assert wait_until(lambda: len(writer.records) == 1)


def test_health_readiness_and_prometheus_metrics(client: httpx.Client) -> None:
    client.post(
        "/v1/traces",
        content=pb_request([pb_span(1), pb_span(2, kind=77)]).SerializeToString(),
        headers=PROTOBUF,
    )
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True}
    page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'otel_agent_sink_spans_received_total{otel_agent_sink_transport="http"' in text
    assert 'otel_agent_sink_spans_rejected_total{otel_agent_sink_transport="http"' in text
    assert "otel_agent_sink_queue_depth" in text and "otel_agent_sink_queue_capacity" in text


def _status_message(response: httpx.Response) -> str:
    if response.headers["content-type"] == "application/json":
        return str(response.json().get("message", ""))
    return status_pb2.Status.FromString(response.content).message


def test_connections_beyond_the_limit_are_refused_and_the_others_served(sink: SinkService) -> None:
    # uvicorn counts the connection being served too: 3 = two idle ones plus one request.
    server = SinkHttpServer(("127.0.0.1", 0), sink.http_context(), max_connections=3)
    server.start()
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        assert _healthz(server.port) == 503  # uvicorn's own refusal: OTLP clients retry a 503
        idle[0].close()
        assert wait_until(lambda: _healthz(server.port) == 200)  # a slot is free again
        idle[1].close()
    finally:
        server.stop()


def _healthz(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.TransportError:
        return 0


def test_responses_are_not_held_back_by_nagle(sink: SinkService, client: httpx.Client) -> None:
    """The ~45 ms per keep-alive request of Nagle plus delayed ACKs: every connection the server
    accepted has TCP_NODELAY (asyncio sets it only on sockets whose protocol says TCP)."""
    assert client.get("/healthz").status_code == 200
    assert sink._http is not None
    accepted = [c.transport.get_extra_info("socket") for c in sink._http.connections()]
    assert accepted and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)
