"""Notifications end to end: agent workers under ``opentelemetry-instrument`` export their metrics by the
SDK's Prometheus path; the real Prometheus (Debian's 2.42) evaluates our alert rules and sends to the real
Alertmanager (0.25), configured by deploy/alertmanager/render.sh, which posts to a webhook on 127.0.0.1.

The three run alerts must notify and then resolve: a failed run (AgentRunFailed), a run whose process was
killed and that the sweep of another process declares stalled (AgentWorkflowsStalled, from the
otel_agent_runs_stalled_total counter), and a run alive past its limit (AgentRunOverdue). The test's copy of
the rules has short windows (20 s instead of 10 min, a 3 s limit instead of an hour) and Alertmanager short
group intervals; nothing else differs from what ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.services import REPO_ROOT, ServiceProcess, binary, free_port, prometheus_server
from tests.stack_support import RULES, prom_query, wait_until

pytestmark = [pytest.mark.prometheus]

RENDER = REPO_ROOT / "deploy" / "alertmanager" / "render.sh"
RUN_ALERTS = {"AgentRunFailed", "AgentWorkflowsStalled", "AgentRunOverdue"}
STALL_AFTER_S = 2


@dataclass
class WebhookReceiver:
    """Alertmanager's webhook target: keeps every (alertname, status, labels) it is sent."""

    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                for alert in body["alerts"]:
                    labels = alert["labels"]
                    receiver.received.append((labels["alertname"], alert["status"], labels))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def statuses(self, alertname: str) -> set[str]:
        return {status for name, status, _ in list(self.received) if name == alertname}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def short_rules(directory: Path) -> Path:
    """The shipped rules with test-sized windows and limits."""
    text = RULES.read_text()
    for long, short in (("[10m]", "[20s]"), ("offset 10m", "offset 20s"), (") > 3600", ") > 3")):
        assert long in text, long
        text = text.replace(long, short)
    path = directory / "rules.yml"
    path.write_text(text)
    return path


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, WebhookReceiver]]:
    """Alertmanager with the shipped config rendered for a local webhook; yields host:port and the webhook."""
    executable = binary("prometheus-alertmanager", "prometheus-alertmanager")
    webhook = WebhookReceiver()
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_AGENT_ALERT_WEBHOOK_URL": webhook.url,
        "OTEL_AGENT_ALERT_GROUP_WAIT": "1s",
        "OTEL_AGENT_ALERT_GROUP_INTERVAL": "1s",
    }
    config = tmp_path / "alertmanager.yml"
    subprocess.run(["sh", str(RENDER), str(config)], env=env, check=True, capture_output=True, timeout=30)
    port = free_port()
    args = [
        executable, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]  # fmt: skip
    server = ServiceProcess(args, {}, tmp_path / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready")
    server.start()
    try:
        yield f"127.0.0.1:{port}", webhook
    finally:
        server.stop()
        webhook.close()


def worker(role: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """tests/stack_alert_worker.py under opentelemetry-instrument; returns once its run has started."""
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    process = subprocess.Popen(
        [str(instrument), sys.executable, "-m", "tests.stack_alert_worker", role],
        env={**os.environ, **env}, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "started":
        process.kill()
        pytest.fail(f"{role} worker did not start: {process.communicate(timeout=10)[1][-3000:]}")
    return process


def worker_env(database: str, metrics_port: int) -> dict[str, str]:
    return {
        "OTEL_SERVICE_NAME": "alerting-test",
        "OTEL_TRACES_EXPORTER": "otel_agent_sql",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
        "OTEL_AGENT_DATABASE_URL": database,
        "OTEL_AGENT_STALL_AFTER": str(STALL_AFTER_S),
        "OTEL_AGENT_HEARTBEAT_INTERVAL": "1",
        "OTEL_AGENT_SPOOL_DIR": str(Path(database.removeprefix("sqlite:///")).parent / "spool"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def test_failed_stalled_and_overdue_runs_notify_and_resolve(
    alertmanager: tuple[str, WebhookReceiver], tmp_path: Path
) -> None:
    am_address, webhook = alertmanager
    database = f"sqlite:///{tmp_path / 'runs.db'}"
    metrics_port = free_port()
    env = worker_env(database, metrics_port)
    rules = short_rules(tmp_path)
    scrape = {"otel-agent-workers": f"127.0.0.1:{metrics_port}"}
    with prometheus_server((rules,), scrape, alertmanager=am_address) as prometheus:
        # A worker dies with a run in flight; the next one's SQL exporter sweeps, marks it stalled, counts it.
        doomed = worker("doomed", {**env, "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port())})
        doomed.kill()
        doomed.wait(10)
        wait_until(lambda: False, STALL_AFTER_S + 1)  # the dead run's last sign of life ages past the limit
        alive = worker("worker", env)
        try:
            fired = wait_until(lambda: all("firing" in webhook.statuses(a) for a in RUN_ALERTS), 90, 0.5)
            assert fired, diagnose(prometheus, webhook)
            assert_labels(webhook)
            alive.communicate("done\n", timeout=30)  # the long run ends: AgentRunOverdue resolves
            resolved = wait_until(lambda: all("resolved" in webhook.statuses(a) for a in RUN_ALERTS), 90, 0.5)
            assert resolved, diagnose(prometheus, webhook)
        finally:
            if alive.poll() is None:
                alive.kill()


def assert_labels(webhook: WebhookReceiver) -> None:
    """Each notification names the run's project, stage and agent (never a run id)."""
    firing = {name: labels for name, status, labels in webhook.received if status == "firing"}
    wanted = {
        "AgentRunFailed": ("alerts", "report", "reporter"),
        "AgentWorkflowsStalled": ("alerts-stalled", "digest", "digester"),
        "AgentRunOverdue": ("alerts", "import", "importer"),
    }
    for alert, (project, stage, agent) in wanted.items():
        labels = firing[alert]
        assert (labels["otel_agent_project"], labels["otel_agent_stage"]) == (project, stage), labels
        assert labels["gen_ai_agent_name"] == agent, labels
        assert not any("run_id" in key or "trace" in key for key in labels), labels


def diagnose(prometheus: str, webhook: WebhookReceiver) -> str:
    series = prom_query(prometheus, '{__name__=~"otel_agent_runs_.*|up"}')
    names = sorted({(s["metric"]["__name__"], s["metric"].get("otel_agent_project", "")) for s in series})
    return f"webhook got {[(n, s) for n, s, _ in webhook.received]}; Prometheus has {names}"


def test_the_rule_copy_differs_only_in_windows(tmp_path: Path) -> None:
    """The end-to-end test runs the shipped expressions: only the window and limit literals change."""
    copy = short_rules(Path(tempfile.mkdtemp(dir=tmp_path))).read_text()
    shipped = RULES.read_text()
    assert copy.count("[20s]") == shipped.count("[10m]") and "[10m]" not in copy
    restored = copy.replace("[20s]", "[10m]").replace("offset 20s", "offset 10m")
    assert restored.replace(") > 3\n", ") > 3600\n") == shipped
