"""`python -m otel_agent.sink` as a real process: start, receive over OTLP/HTTP, SIGTERM flushes, exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from otel_agent.store import models as M
from tests.services import free_port, wait_for_port
from tests.sink_support import pb_request, pb_span

OTEL_AGENT = str(Path(sys.executable).parent / "otel-agent")  # the installed console script


@pytest.mark.parametrize("entry", [[sys.executable, "-m", "otel_agent.sink"], [OTEL_AGENT, "sink"]])
def test_sink_process_serves_and_flushes_on_sigterm(tmp_path: Path, entry: list[str]) -> None:
    grpc_port, http_port = free_port(), free_port()
    database = f"sqlite:///{tmp_path}/sink.db"
    command = [*entry, "--grpc-endpoint", f"127.0.0.1:{grpc_port}",
               "--http-endpoint", f"127.0.0.1:{http_port}", "--database-url", database]  # fmt: skip
    env = {**os.environ, "OTEL_AGENT_SINK_BEARER_TOKEN": "tok"}
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for_port(http_port, 30), process.stderr.read() if process.poll() is not None else ""
        assert httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=5).status_code == 200
        spans = [pb_span(n) for n in range(1, 4)]
        for span in spans:  # agent spans: a service's plain spans are skipped (tests/test_sink_orphans.py)
            span.attributes.add(key="gen_ai.operation.name").value.string_value = "chat"
        response = httpx.post(
            f"http://127.0.0.1:{http_port}/v1/traces",
            content=pb_request(spans).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer tok"},
            timeout=10,
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(M.steps)).scalar() == 3
    engine.dispose()


def test_sink_process_reports_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "otel_agent.sink", "--grpc-endpoint", "none",
             "--http-endpoint", f"127.0.0.1:{port}", "--database-url", f"sqlite:///{tmp_path}/x.db"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert "otel-agent sink: cannot start" in result.stderr
