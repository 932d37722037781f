"""Parts for the stack tests: the gateway Collector as a process, recording OTLP backends that stand in for
Tempo and Loki, a Prometheus query helper, and every PromQL / SQL expression the deployment uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.services import REPO_ROOT, ServiceProcess, collector_binary, free_port

GATEWAY_CONFIG = REPO_ROOT / "collector-config" / "gateway.yaml"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "otel-agent.rules.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    name: str
    attributes: dict[str, Any]


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else None
    )


class _Recorder(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, spans: list[ReceivedSpan], lock: threading.Lock) -> None:
        self._spans, self._lock = spans, lock

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        received = [
            ReceivedSpan(
                span.trace_id.hex(),
                span.span_id.hex(),
                span.name,
                {kv.key: _plain(kv.value) for kv in span.attributes},
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self._spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()


class RecordingTraceBackend:
    """An OTLP gRPC trace receiver on 127.0.0.1 that keeps what it gets; can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _Recorder(self.spans, self._lock), self._server
        )
        self._server.add_insecure_port(self.endpoint)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def trace_ids(self) -> set[str]:
        return {span.trace_id for span in self.snapshot()}

    def span_ids(self) -> set[str]:
        return {span.span_id for span in self.snapshot()}


class RecordingHttpBackend:
    """Accepts any OTLP/HTTP POST (Loki's /otlp/v1/logs) with 200 and counts the requests by path."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                backend.requests[self.path] = backend.requests.get(self.path, 0) + 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class GatewayCollector:
    """The built Collector running collector-config/gateway.yaml with every endpoint on 127.0.0.1."""

    tempo: str
    sink: str
    loki_url: str
    remote_write_url: str
    work_dir: Path
    sample_percent: int = 0
    config: Path = GATEWAY_CONFIG
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: GatewayCollector.new_ports())

    @staticmethod
    def new_ports() -> dict[str, int]:
        return {name: free_port() for name in ("grpc", "http", "health", "metrics")}

    def __post_init__(self) -> None:
        env = {
            "OTEL_AGENT_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.ports['grpc']}",
            "OTEL_AGENT_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.ports['http']}",
            "OTEL_AGENT_HEALTH_ENDPOINT": f"127.0.0.1:{self.ports['health']}",
            "OTEL_AGENT_COLLECTOR_METRICS_HOST": "127.0.0.1",
            "OTEL_AGENT_COLLECTOR_METRICS_PORT": str(self.ports["metrics"]),
            "OTEL_AGENT_QUEUE_DIR": str(self.work_dir / "queue"),
            "OTEL_AGENT_TEMPO_ENDPOINT": self.tempo,
            "OTEL_AGENT_SINK_ENDPOINT": self.sink,
            "OTEL_AGENT_SINK_RETRY_INITIAL": "200ms",
            "OTEL_AGENT_LOKI_ENDPOINT": f"{self.loki_url}/otlp",
            "OTEL_AGENT_PROMETHEUS_REMOTE_WRITE": self.remote_write_url,
            "OTEL_AGENT_TAIL_DECISION_WAIT": "1s",
            "OTEL_AGENT_TAIL_SAMPLE_PERCENT": str(self.sample_percent),
            "OTEL_AGENT_SPANMETRICS_FLUSH": "1s",
            "OTEL_AGENT_BATCH_TIMEOUT": "200ms",
            **self.extra_env,
        }
        args = [collector_binary(), f"--config={self.config}"]
        ready = f"http://127.0.0.1:{self.ports['health']}/"
        self.process = ServiceProcess(args, env, self.work_dir / "collector.log", ready)

    @property
    def otlp_grpc(self) -> str:
        return f"http://127.0.0.1:{self.ports['grpc']}"

    @property
    def metrics_target(self) -> str:
        return f"127.0.0.1:{self.ports['metrics']}"


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, interval_s: float = 0.2) -> bool:
    """Poll condition until it holds, for at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def prom_query(base_url: str, expr: str) -> list[dict[str, Any]]:
    """Run an instant query; raise with Prometheus's own message when it refuses the expression."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode(errors='replace')}") from exc
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return result if isinstance(result, list) else [{"value": result}]


def _dashboard_targets() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard.get("panels", []):
            for target in panel.get("targets", []):
                yield path.stem, panel.get("title", ""), target


def dashboard_promql() -> list[tuple[str, str]]:
    """(dashboard/panel, expression) for every Prometheus query of every dashboard."""
    return [
        (f"{board}/{title}", target["expr"])
        for board, title, target in _dashboard_targets()
        if target.get("datasource", {}).get("type") == "prometheus"
    ]


def dashboard_logql() -> list[tuple[str, str]]:
    """(dashboard/panel, LogQL) for every Loki query of every dashboard."""
    return [
        (f"{board}/{title}", target["expr"])
        for board, title, target in _dashboard_targets()
        if target.get("datasource", {}).get("type") == "loki"
    ]


def dashboard_sql() -> list[tuple[str, str]]:
    """(dashboard/panel, SQL) for every PostgreSQL query of every dashboard."""
    return [
        (f"{board}/{title}", target["rawSql"])
        for board, title, target in _dashboard_targets()
        if target.get("datasource", {}).get("type") == "grafana-postgresql-datasource"
    ]


def rule_promql() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (rule.get("alert") or rule["record"], rule["expr"]) for group in groups for rule in group["rules"]
    ]


def grafana_macros(sql: str) -> str:
    """Expand the Grafana macros our panels use into plain PostgreSQL, as Grafana would for a 6 h range."""
    replacements = {
        "$__timeFilter(started_at)": "started_at BETWEEN now() - interval '6 hours' AND now()",
        "$__timeFilter(occurred_at)": "occurred_at BETWEEN now() - interval '6 hours' AND now()",
        "$__timeFrom()": "(now() - interval '6 hours')",
        "$__timeTo()": "now()",
    }
    for macro, plain in replacements.items():
        sql = sql.replace(macro, plain)
    assert "$__" not in sql, f"unexpanded Grafana macro in {sql!r}"
    return sql


AGENT_CONFIG = REPO_ROOT / "collector-config" / "agent.yaml"


def edge_collector(gateways: list[str], work_dir: Path) -> tuple[ServiceProcess, str]:
    """The built Collector running collector-config/agent.yaml in front of the given gateway endpoints;
    returns the process and its OTLP gRPC endpoint."""
    ports = {name: free_port() for name in ("grpc", "http", "health", "metrics")}
    env = {
        "OTEL_AGENT_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports['grpc']}",
        "OTEL_AGENT_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports['http']}",
        "OTEL_AGENT_HEALTH_ENDPOINT": f"127.0.0.1:{ports['health']}",
        "OTEL_AGENT_COLLECTOR_METRICS_HOST": "127.0.0.1",
        "OTEL_AGENT_COLLECTOR_METRICS_PORT": str(ports["metrics"]),
        "OTEL_AGENT_GATEWAYS": "[" + ", ".join(gateways) + "]",
        "OTEL_AGENT_QUEUE_DIR": str(work_dir / "edge-queue"),
        "OTEL_AGENT_BATCH_TIMEOUT": "200ms",
    }
    args = [collector_binary(), f"--config={AGENT_CONFIG}"]
    ready = f"http://127.0.0.1:{ports['health']}/"
    return ServiceProcess(args, env, work_dir / "edge.log", ready), f"http://127.0.0.1:{ports['grpc']}"


def sink_process(database_url: str, work_dir: Path) -> tuple[ServiceProcess, str, str]:
    """The real `otel-agent sink` (python -m otel_agent.sink) writing to database_url; returns the process,
    its OTLP gRPC endpoint and its HTTP base URL (/metrics, /readyz)."""
    grpc_port, http_port = free_port(), free_port()
    args = [
        sys.executable, "-m", "otel_agent.sink", f"--grpc-endpoint=127.0.0.1:{grpc_port}",
        f"--http-endpoint=127.0.0.1:{http_port}", f"--database-url={database_url}",
    ]  # fmt: skip
    http = f"http://127.0.0.1:{http_port}"
    journal = {"OTEL_AGENT_SINK_JOURNAL_DIR": str(work_dir / "sink-journal")}  # not the checkout's
    process = ServiceProcess(args, journal, work_dir / "sink.log", f"{http}/readyz")
    return process, f"127.0.0.1:{grpc_port}", http


def run_example_pipeline(collector_grpc: str, runs: int = 1, extra_env: dict[str, str] | None = None) -> None:
    """The example book writer under `opentelemetry-instrument`, exporting OTLP to the Collector, as in
    docker-compose.yml."""
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        "OTEL_SERVICE_NAME": "book-writer",
        # No service.instance.id: each process gets its own (otel_agent.distro), as in docker-compose.yml.
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=examples",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector_grpc,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **(extra_env or {}),
    }
    for _ in range(runs):
        subprocess.run(
            [str(instrument), sys.executable, "-m", "examples.book_writer"],
            env={**os.environ, **env}, cwd=REPO_ROOT, check=True, capture_output=True, timeout=120,
        )  # fmt: skip


GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "15m",
    "$__interval": "15s",
    "$project": ".*",
    "$stage": ".*",
    "$role": ".*",
    "$agent": ".*",
}


def as_promql(expr: str) -> str:
    """A dashboard expression as Grafana sends it with every project and stage selected."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr
