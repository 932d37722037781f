"""Prometheus metrics of the health rules, for the stack's alert rules.

Scraped with the workspace's token (``authorization: {credentials_file: ...}`` in the scrape config);
each series carries a ``workspace`` label, a bounded set, never ids.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from otel_agent.api import deps
from otel_agent.api.queries.health import HealthCounts, health_counts
from otel_agent.api.tables import utcnow

router = APIRouter(tags=["metrics"])

_GAUGES = (
    ("otel_agent_open_failures", "Failures not yet resolved", "open_failures"),
    (
        "otel_agent_failed_runs_24h",
        "Runs started in the last 24 hours that failed or stalled",
        "failed_runs_24h",
    ),
    (
        "otel_agent_failed_runs_today",
        "Runs started since 00:00 UTC that failed or stalled",
        "failed_runs_today",
    ),
    ("otel_agent_running_runs", "Runs in flight now", "running_runs"),
)


class _HealthCollector(Collector):
    """Yields the health counts of one workspace as gauges."""

    def __init__(self, workspace: str, counts: HealthCounts) -> None:
        self._workspace = workspace
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text, field in _GAUGES:
            gauge = GaugeMetricFamily(name, help_text, labels=["workspace"])
            gauge.add_metric([self._workspace], float(getattr(self._counts, field)))
            yield gauge


@router.get(
    "/metrics",
    summary="Health metrics in the Prometheus text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(caller: deps.Viewer, engine: deps.Engine) -> Response:
    with engine.connect() as conn:
        counts = health_counts(conn, caller.workspace, utcnow())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HealthCollector(caller.workspace, counts))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
