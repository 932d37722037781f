"""A real Prometheus scrapes the API's /metrics with a workspace token, and an alert rule fires on it."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.api_fixtures import Stack, database, stack
from tests.services import ServiceProcess, binary, free_port

pytestmark = pytest.mark.prometheus

RULE = {"alert": "AgentFailuresOpen", "expr": "otel_agent_open_failures > 0", "for": "0s"}


@contextmanager
def prometheus_scraping(api: Stack, token: str) -> Iterator[str]:
    """Prometheus on 127.0.0.1 scraping the API every second with a bearer token; yields its URL."""
    tmp = Path(tempfile.mkdtemp(prefix="otel-agent-api-prom-"))
    (tmp / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "api", "rules": [RULE]}]}))
    scrape = {
        "job_name": "otel-agent-api",
        "metrics_path": "/metrics",
        "authorization": {"type": "Bearer", "credentials": token},
        "static_configs": [{"targets": [api.base_url.removeprefix("http://")]}],
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [scrape],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary("prometheus", "prometheus"),
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    server = ServiceProcess(args, {}, tmp / "prometheus.log", f"http://127.0.0.1:{port}/-/ready")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _poll(url: str, params: dict[str, str], found: Any, timeout_s: float = 30.0) -> Any:
    """GET url until found(json) is truthy, for at most timeout_s; returns the last answer."""
    deadline = time.monotonic() + timeout_s
    answer: Any = None
    while time.monotonic() < deadline:
        answer = httpx.get(url, params=params, timeout=5).json()
        if found(answer):
            break
        time.sleep(0.5)
    return answer


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Stack]:
    with database("sqlite", str(tmp_path), None) as url, stack(url) as s:
        yield s


def test_prometheus_scrapes_health_gauges_and_alerts_on_them(api: Stack) -> None:
    with prometheus_scraping(api, api.tokens[("acme", "viewer")]) as prometheus:
        query = {"query": "otel_agent_open_failures"}
        series = _poll(f"{prometheus}/api/v1/query", query, lambda a: a["data"]["result"])
        alerts = _poll(f"{prometheus}/api/v1/alerts", {}, lambda a: a["data"]["alerts"])
        targets = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
    assert [(s["metric"]["workspace"], s["value"][1]) for s in series["data"]["result"]] == [("acme", "3")]
    assert [(a["labels"]["alertname"], a["state"]) for a in alerts["data"]["alerts"]] == [
        ("AgentFailuresOpen", "firing")
    ]
    assert targets[0]["health"] == "up"
