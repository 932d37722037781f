"""Remote-parent propagation over real HTTP on 127.0.0.1: service A calls service B with httpx."""

# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_agent import attributes as A
from otel_agent.context import agent_run, agent_step
from otel_agent.propagation import AllowListBaggagePropagator, host_allowed, outbound_host
from tests.otel_capture import Captured, captured  # noqa: F401


class ServiceB(BaseHTTPRequestHandler):
    """Another service: continues the trace from the incoming headers, like any server instrumentation."""

    received: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        headers = dict(self.headers.items())
        ServiceB.received.append(headers)
        ctx = propagate.extract(headers)
        tracer = trace.get_tracer("service-b")
        with tracer.start_as_current_span("handle", context=ctx), tracer.start_as_current_span("b child"):
            pass
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service_b() -> Iterator[int]:
    ServiceB.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ServiceB)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def propagators() -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), AllowListBaggagePropagator(("127.0.0.1",))])
    )
    HTTPXClientInstrumentor().instrument()
    yield
    HTTPXClientInstrumentor().uninstrument()
    propagate.set_global_textmap(previous)


def test_attribution_reaches_an_allow_listed_service(
    captured: Captured, service_b: int, propagators: None
) -> None:
    with agent_run("wf", project="books", trigger="webhook") as run, agent_step(stage="publish"):
        assert httpx.get(f"http://127.0.0.1:{service_b}/").status_code == 200
    handle = captured.one("handle")
    assert handle.parent.is_remote and handle.context.trace_id == run.get_span_context().trace_id
    for name in ("handle", "b child"):
        attrs = captured.one(name).attributes
        assert attrs[A.PROJECT] == "books" and attrs[A.STAGE] == "publish"
        assert attrs[A.TRIGGER_TYPE] == "webhook"
        assert attrs[A.RUN_ID] == format(run.get_span_context().span_id, "016x")


def test_nothing_leaks_to_a_host_off_the_allow_list(
    captured: Captured, service_b: int, propagators: None
) -> None:
    with agent_run("wf", project="books"):
        httpx.get(f"http://localhost:{service_b}/")  # same server, but "localhost" is not allowed
    assert "baggage" not in {k.lower() for k in ServiceB.received[0]}
    assert "traceparent" in {k.lower() for k in ServiceB.received[0]}  # the trace still continues
    assert A.PROJECT not in captured.one("handle").attributes


def test_incoming_baggage_is_filtered_to_our_keys(captured: Captured) -> None:
    carrier = {"baggage": f"{A.PROJECT}=p,secret=1,{A.STAGE}=s"}
    ctx = AllowListBaggagePropagator(()).extract(carrier)
    with trace.get_tracer("t").start_as_current_span("server", context=ctx):
        pass
    attrs = captured.one("server").attributes
    assert attrs[A.PROJECT] == "p" and attrs[A.STAGE] == "s" and "secret" not in attrs


def test_outbound_host_names_the_destination_for_header_dicts_without_host() -> None:
    propagator = AllowListBaggagePropagator(("*.corp.internal",))
    with agent_run("wf", project="p"):
        bare: dict[str, str] = {}
        propagator.inject(bare)
        named: dict[str, str] = {}
        with outbound_host("https://api.corp.internal:8443/v1"):
            propagator.inject(named)
    assert bare == {} and A.PROJECT in named["baggage"]


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("api.openai.com", ("*.corp",), False),
        ("svc.corp", ("*.corp",), True),
        ("corp", ("*.corp",), False),
        ("anything", ("*",), True),
        (None, ("*",), False),
    ],
)
def test_host_allow_list(host: str | None, patterns: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed
