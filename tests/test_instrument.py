"""Zero-code use: a real `opentelemetry-instrument python app.py` subprocess with otel-agent installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_agent import attributes as A

APP = """
from opentelemetry import trace
from otel_agent import agent_run, agent_step

with agent_run("book", project="books", trigger="user"):
    with agent_step(stage="draft"):
        with trace.get_tracer("stand-in").start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1234,
            "gen_ai.usage.cache_read.input_tokens": 200, "gen_ai.usage.output_tokens": 321}):
            pass
print("APP DONE", flush=True)
"""

BIN = Path(sys.executable).parent


def _console_spans(stdout: str) -> list[dict[str, Any]]:
    """The console exporter prints one indented JSON object per span."""
    decoder, spans, pos = json.JSONDecoder(), [], 0
    while (start := stdout.find("{", pos)) != -1:
        obj, pos = decoder.raw_decode(stdout, start)
        spans.append(obj)
    return spans


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    full = {
        **clean,
        "OTEL_SERVICE_NAME": "book-writer",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_AGENT_HEARTBEAT_INTERVAL": "0",
        **env,
    }
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(app)],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "APP DONE" in result.stdout
    return result


def _by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in spans}


def test_console_exporter_sees_enriched_spans(tmp_path: Path) -> None:
    spans = _by_name(_console_spans(_run(tmp_path, OTEL_TRACES_EXPORTER="console").stdout))
    chat = spans["chat gpt-4o"]
    assert chat["attributes"][A.COST_USD] == pytest.approx(0.006045)
    assert chat["attributes"][A.PROJECT] == "books" and chat["attributes"][A.STAGE] == "draft"
    assert chat["resource"]["attributes"]["service.name"] == "book-writer"  # standard OTEL_* honoured
    run = spans["invoke_workflow book"]["attributes"]
    assert run[A.RUN_STATUS] == "succeeded" and run[A.ROLLUP_COST_USD] == pytest.approx(0.006045)
    assert A.MARKER_SPAN_NAME in spans  # the run.start marker went to the exporter too


def test_enriched_even_when_opentelemetry_distro_wins(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        OTEL_TRACES_EXPORTER="console",
        OTEL_PYTHON_DISTRO="distro",
        OTEL_PYTHON_CONFIGURATOR="configurator",
    )
    chat = _by_name(_console_spans(out.stdout))["chat gpt-4o"]
    assert chat["attributes"][A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES


def test_disabled_adds_nothing(tmp_path: Path) -> None:
    out = _run(tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_AGENT_ENABLED="false")
    spans = _by_name(_console_spans(out.stdout))
    assert A.COST_USD not in spans["chat gpt-4o"]["attributes"]
    assert A.MARKER_SPAN_NAME not in spans


class _OtlpReceiver(BaseHTTPRequestHandler):
    requests: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _OtlpReceiver.requests.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_port() -> Iterator[int]:
    _OtlpReceiver.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OtlpReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_every_configured_exporter_sees_the_same_enriched_spans(tmp_path: Path, otlp_port: int) -> None:
    out = _run(
        tmp_path,
        OTEL_TRACES_EXPORTER="console,otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{otlp_port}/v1/traces",
    )
    console = _by_name(_console_spans(out.stdout))["chat gpt-4o"]["attributes"]
    otlp: dict[str, Any] = {}
    for request in _OtlpReceiver.requests:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    if span.name == "chat gpt-4o":
                        otlp = {kv.key: kv.value for kv in span.attributes}
    assert otlp, f"no chat span reached the OTLP receiver: {out.stderr[-2000:]}"
    assert otlp[A.COST_USD].double_value == pytest.approx(console[A.COST_USD])
    assert otlp[A.PROJECT].string_value == console[A.PROJECT] == "books"


CONFIG_FILE = """
file_format: "1.1"
resource:
  attributes:
    - name: service.name
      value: declared-writer
tracer_provider:
  processors:
    - simple:
        exporter:
          console: {}
"""


def test_declarative_config_file_exporters_see_enriched_spans(tmp_path: Path) -> None:
    """With OTEL_CONFIG_FILE the SDK's configurator ignores span_processors=; we adopt what it built."""
    import opentelemetry.configuration  # noqa: F401  (a dev dependency: fail loudly if it is missing)

    config = tmp_path / "otel.yaml"
    config.write_text(CONFIG_FILE)
    spans = _by_name(_console_spans(_run(tmp_path, OTEL_CONFIG_FILE=str(config)).stdout))
    chat = spans["chat gpt-4o"]
    assert chat["attributes"][A.COST_USD] == pytest.approx(0.006045)
    assert chat["attributes"][A.PROJECT] == "books"
    assert chat["resource"]["attributes"]["service.name"] == "declared-writer"
