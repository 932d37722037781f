"""Links from a run to its trace (Tempo data source) and its logs (Loki) in Grafana Explore."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

# Explore's time range must contain the trace, or Tempo may not find it: pad the run's span a little.
_PAD = timedelta(minutes=5)


def trace_url(
    grafana_url: str | None,
    tempo_uid: str,
    trace_id: str,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> str | None:
    """Grafana Explore URL showing `trace_id`; None when no Grafana URL is configured."""
    if not grafana_url or not trace_id:
        return None
    datasource = {"type": "tempo", "uid": tempo_uid}
    pane = {
        "datasource": tempo_uid,
        "queries": [{"refId": "A", "datasource": datasource, "queryType": "traceql", "query": trace_id}],
        "range": _time_range(started_at, ended_at),
    }
    return _explore(grafana_url, pane)


def logs_url(
    grafana_url: str | None,
    loki_uid: str,
    trace_id: str,
    service_name: str | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> str | None:
    """Grafana Explore URL showing the log records of `trace_id` in Loki; None without a Grafana URL.

    Loki's OTLP ingestion keeps ``trace_id`` as structured metadata (docs/logs.md), so the query selects
    the service's streams (any stream when the run names no service) and filters on it."""
    if not grafana_url or not trace_id:
        return None
    selector = f'{{service_name="{_logql_string(service_name)}"}}' if service_name else '{service_name=~".+"}'
    datasource = {"type": "loki", "uid": loki_uid}
    query = f'{selector} | trace_id="{_logql_string(trace_id)}"'
    pane = {
        "datasource": loki_uid,
        "queries": [{"refId": "A", "datasource": datasource, "expr": query, "queryType": "range"}],
        "range": _time_range(started_at, ended_at),
    }
    return _explore(grafana_url, pane)


def _logql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _explore(grafana_url: str, pane: dict) -> str:
    panes = json.dumps({"run": pane}, separators=(",", ":"))
    return f"{grafana_url.rstrip('/')}/explore?schemaVersion=1&orgId=1&panes={quote(panes, safe='')}"


def _time_range(started_at: datetime | None, ended_at: datetime | None) -> dict[str, str]:
    if started_at is None:
        return {"from": "now-7d", "to": "now"}
    end = ended_at or started_at
    return {"from": _millis(started_at - _PAD), "to": _millis(end + _PAD)}


def _millis(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive datetimes; the store writes UTC
        at = at.replace(tzinfo=timezone.utc)
    return str(int(at.timestamp() * 1000))
