"""Remote-parent propagation between two real processes, both started with `opentelemetry-instrument`.

Service A runs a pipeline step that calls service B over HTTP with httpx (auto-instrumented); B continues
the trace from the incoming headers. Attribution must arrive only because B's host is allow-listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agent import attributes as A
from tests.services import free_port, wait_for_port
from tests.test_instrument import _by_name, _console_spans

SERVICE_B = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from opentelemetry import propagate, trace

served = []

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        served.append(True)
        ctx = propagate.extract(dict(self.headers.items()))
        with trace.get_tracer("service-b").start_as_current_span("handle", context=ctx):
            with trace.get_tracer("service-b").start_as_current_span("b work"):
                pass
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.timeout = 60
while not served:  # the test's port probe is a connection without a request: keep serving
    server.handle_request()
# exit normally after one GET, so the exporter flushes
"""

SERVICE_A = """
import sys
import httpx
from otel_agent import agent_run, agent_step

with agent_run("publish-book", project="books", trigger="schedule"), agent_step(stage="publish"):
    httpx.get(f"http://{sys.argv[1]}:{sys.argv[2]}/", timeout=10)
"""

BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    return {
        **clean,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_AGENT_HEARTBEAT_INTERVAL": "0",
        **extra,
    }


def _call_b(tmp_path: Path, host: str, allowed: str) -> tuple[dict, dict]:
    (tmp_path / "b.py").write_text(SERVICE_B)
    (tmp_path / "a.py").write_text(SERVICE_A)
    port = free_port()
    instrument = str(BIN / "opentelemetry-instrument")
    b = subprocess.Popen(
        [instrument, sys.executable, str(tmp_path / "b.py"), str(port)],
        env=_env(OTEL_SERVICE_NAME="service-b"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        if not wait_for_port(port, timeout_s=60):
            pytest.fail(f"service B did not start: {b.stderr.read() if b.stderr else ''}")
        a = subprocess.run(
            [instrument, sys.executable, str(tmp_path / "a.py"), host, str(port)],
            env=_env(OTEL_SERVICE_NAME="service-a", OTEL_AGENT_PROPAGATE_HOSTS=allowed),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert a.returncode == 0, a.stderr
        b_out, b_err = b.communicate(timeout=60)
    finally:
        if b.poll() is None:
            b.kill()
            b.wait(timeout=10)
    assert b.returncode == 0, b_err
    return _by_name(_console_spans(a.stdout)), _by_name(_console_spans(b_out))


def test_attribution_crosses_to_an_allow_listed_process(tmp_path: Path) -> None:
    a_spans, b_spans = _call_b(tmp_path, "127.0.0.1", "127.0.0.1")
    run = a_spans["invoke_workflow publish-book"]
    handle = b_spans["handle"]
    assert handle["context"]["trace_id"] == run["context"]["trace_id"]
    for name in ("handle", "b work"):
        attrs = b_spans[name]["attributes"]
        assert attrs[A.PROJECT] == "books" and attrs[A.STAGE] == "publish"
        assert attrs[A.TRIGGER_TYPE] == "schedule"
        assert attrs[A.RUN_ID] == run["attributes"][A.RUN_ID]
    assert b_spans["handle"]["resource"]["attributes"]["service.name"] == "service-b"


def test_no_attribution_to_a_process_off_the_allow_list(tmp_path: Path) -> None:
    a_spans, b_spans = _call_b(tmp_path, "127.0.0.1", "api.internal")
    handle = b_spans["handle"]
    assert handle["context"]["trace_id"] == a_spans["invoke_workflow publish-book"]["context"]["trace_id"]
    assert A.PROJECT not in handle["attributes"] and A.RUN_ID not in handle["attributes"]
