"""Helpers for the sink tests: OTLP requests built by hand, a running sink, a writer that can block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_agent.record import SpanRecord
from otel_agent.settings import Settings
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.service import SinkService
from tests.services import free_port, wait_for_port

T0 = 1_700_000_000_000_000_000


def pb_span(n: int = 1, **overrides: Any) -> Span:
    """A valid protobuf span whose ids derive from ``n``; override any field."""
    fields: dict[str, Any] = {
        "trace_id": bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        "span_id": n.to_bytes(8, "big"),
        "name": f"span {n}",
        "kind": Span.SPAN_KIND_CLIENT,
        "start_time_unix_nano": T0 + n,
        "end_time_unix_nano": T0 + n + 1_000_000,
        "attributes": [KeyValue(key="n", value=AnyValue(int_value=n))],
    }
    fields.update(overrides)
    return Span(**fields)


def pb_request(spans: Sequence[Span], service: str = "svc") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value=service))
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    scope_spans.spans.extend(spans)
    return request


def sink_settings(**overrides: Any) -> Settings:
    base = Settings(
        sink_grpc_endpoint="127.0.0.1:0",
        sink_http_endpoint="127.0.0.1:0",
        sink_shutdown_timeout_s=10,
        sink_journal_dir=tempfile.mkdtemp(prefix="otel-agent-sink-journal-"),
    )
    return replace(base, **overrides)


@contextmanager
def running_sink(write: Callable[[Sequence[SpanRecord]], object], **overrides: Any) -> Iterator[SinkService]:
    sink = SinkService(write, sink_settings(**overrides))
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


class GatedWriter:
    """Collects records; while closed, blocks inside the write call, so the queue can be filled on purpose."""

    def __init__(self) -> None:
        self.records: list[SpanRecord] = []
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()  # a write call is in progress
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[SpanRecord]) -> None:
        self.entered.set()
        self.open.wait(30)
        with self._lock:
            self.records.extend(batch)

    def span_ids(self) -> list[str]:
        with self._lock:
            return [r.span_id for r in self.records]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def counter(metrics: SinkMetrics, name: str) -> float:
    """A metric's value summed over its label sets, read back from the Prometheus registry."""
    samples = (s for family in metrics.registry.collect() for s in family.samples)
    return sum(s.value for s in samples if s.name == name)


class SinkProcess:
    """``python -m otel_agent.sink`` as a real process on loopback ports; RSS readable, killable."""

    def __init__(self, database_url: str, work_dir: Path, **env: str) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        endpoints = ["--grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
                     "--http-endpoint", f"127.0.0.1:{self.http_port}"]  # fmt: skip
        command = [sys.executable, "-m", "otel_agent.sink", *endpoints, "--database-url", database_url]
        environ = {**os.environ, "OTEL_AGENT_SINK_JOURNAL_DIR": str(work_dir / "journal")}
        environ.update({f"OTEL_AGENT_SINK_{k.upper()}": v for k, v in env.items()})
        self.log = (work_dir / "sink.log").open("ab")
        self.process = subprocess.Popen(command, env=environ, cwd=work_dir, stdout=self.log, stderr=self.log)
        if not wait_for_port(self.http_port, 60) or not wait_for_port(self.grpc_port, 10):
            self.kill()
            raise RuntimeError(f"the sink did not start: {(work_dir / 'sink.log').read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rss_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self.log.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.log.close()
        return code
