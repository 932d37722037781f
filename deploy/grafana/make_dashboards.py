"""Write the Grafana dashboards in deploy/grafana/dashboards/ from the compact panel lists below.

    python deploy/grafana/make_dashboards.py          # rewrite the JSON files
    python deploy/grafana/make_dashboards.py --check  # exit 1 if a JSON file is out of date (tests run it)

Every PromQL and SQL expression the dashboards use is in this file and nowhere else; the tests read the
generated JSON and run each one against a real Prometheus and PostgreSQL. Metric names: docs/metrics.md
(agent and GenAI metrics from the SDK) and collector-config/gateway.yaml (traces_span_metrics_* from the
span_metrics connector). Tables: otel_runs, otel_steps, otel_failures (otel_agent/store/models.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
PROM = {"type": "prometheus", "uid": "prometheus"}
# A run row's totals cover its own steps; a nested run has its own row. Top-level runs with the totals of
# everything under them, for the SQL panels:
ROOT_RUNS = """
    SELECT r.*, t.total_cost_usd, t.total_input_tokens, t.total_output_tokens, t.total_llm_calls,
           t.total_unpriced_calls
    FROM otel_runs r
    JOIN (SELECT root_run_id, sum(cost_usd) AS total_cost_usd, sum(input_tokens) AS total_input_tokens,
                 sum(output_tokens) AS total_output_tokens, sum(llm_calls) AS total_llm_calls,
                 sum(unpriced_calls) AS total_unpriced_calls
          FROM otel_runs GROUP BY root_run_id) t ON t.root_run_id = r.run_id
    WHERE r.parent_run_id IS NULL"""
PG = {"type": "grafana-postgresql-datasource", "uid": "postgres"}
P = 'otel_agent_project=~"$project"'
S = 'otel_agent_stage=~"$stage"'
# Role and agent: "All" is .*, which also matches series without the label (span metrics carry no agent).
PS = f'{P}, {S}, otel_agent_agent_role=~"$role", gen_ai_agent_name=~"$agent"'
LOKI = {"type": "loki", "uid": "loki"}


def window_count(selector: str, window: str, offset: str = "") -> str:
    """How much a counter grew in the window, counting series born in it at their whole value: one-run
    processes (a service.instance.id each) export a single sample, in which increase() sees nothing.
    Same form as the alert rules (deploy/prometheus/rules/otel-agent.rules.yml)."""
    shifted = f" offset {offset}" if offset else ""
    before = f" offset {_add(window, offset)}" if offset else f" offset {window}"
    return (
        f"(increase({selector}[{window}]{shifted}) > 0)"
        f" or (last_over_time({selector}[{window}]{shifted}) unless {selector}{before})"
    )


def _add(window: str, offset: str) -> str:
    assert window == offset == "1h", "only the hour-on-hour comparison shifts a window"
    return "2h"


# rate()/increase() over the SDK's counters and histogram buckets (otel_agent_*, gen_ai_*), which come from
# processes of any lifetime, become window counts; the Collector's own series (traces_span_metrics_*,
# otelcol_*) come from a long-lived process and keep rate().
_SDK_COUNTER = re.compile(
    r"(rate|increase)\(((?:otel_agent|gen_ai)_\w+(?:\{[^}]*\})?)\[([^\]]+)\](?: offset (\w+))?\)"
)


def per_process_safe(expr: str) -> str:
    return _SDK_COUNTER.sub(lambda m: "(" + window_count(m[2], m[3], m[4] or "") + ")", expr)


LLM_OPS = 'gen_ai_operation_name=~"chat|generate_content|text_completion|embeddings"'
RUN_OPS = 'gen_ai_operation_name=~"invoke_agent|invoke_workflow"'
RUN_RATE = (
    f"sum by (otel_agent_stage) (rate(traces_span_metrics_calls_total{{{PS}, {RUN_OPS}}}[$__rate_interval]))"
)
TRACE_LINK = {
    "title": "Open trace in Tempo",
    "url": "",
    "internal": {
        "datasourceUid": "tempo",
        "datasourceName": "Tempo",
        "query": {"query": "${__value.raw}", "queryType": "traceql"},
    },
}


def prom(
    title: str, expr: str, kind: str = "timeseries", unit: str = "short", legend: str = ""
) -> dict[str, Any]:
    safe = per_process_safe(expr)
    if safe != expr and unit == "reqps":
        unit = "short"  # a count per interval now, not a per-second rate
    expr = safe
    target = {"datasource": PROM, "refId": "A", "expr": expr, "legendFormat": legend or "__auto"}
    if kind in ("stat", "bargauge"):
        target["instant"] = True
    if "histogram_quantile" in expr:
        target["exemplar"] = True  # exemplar dots link a latency bucket to a trace in Tempo
    return {"title": title, "type": kind, "datasource": PROM, "unit": unit, "targets": [target]}


def logs(title: str, expr: str) -> dict[str, Any]:
    """A Loki logs panel; the Loki data source's derived field links each line's trace_id to Tempo."""
    target = {"datasource": LOKI, "refId": "A", "expr": expr, "queryType": "range"}
    spec = {"title": title, "type": "logs", "datasource": LOKI, "unit": "short"}
    return {**spec, "targets": [target]}


def sql(title: str, query: str) -> dict[str, Any]:
    target = {
        "datasource": PG,
        "refId": "A",
        "format": "table",
        "rawQuery": True,
        "editorMode": "code",
        "rawSql": " ".join(query.split()),
    }
    return {"title": title, "type": "table", "datasource": PG, "unit": "short", "targets": [target]}


OVERVIEW = [
    # Every count of runs counts nested runs as runs of their own, like the otel_runs table below.
    prom(
        "Runs started",
        f"sum(increase(otel_agent_runs_started_total{{{PS}}}[$__range])) or vector(0)",
        "stat",
    ),
    prom(
        "Success rate",
        f'sum(increase(otel_agent_runs_finished_total{{{PS}, otel_agent_run_status="succeeded"}}[$__range]))'
        f" / sum(increase(otel_agent_runs_finished_total{{{PS}}}[$__range]))",
        "stat",
        "percentunit",
    ),
    prom("Runs in flight", f"sum(otel_agent_runs_in_flight{{{PS}}})", "stat"),
    prom(
        "Runs finished by status",
        f"sum by (otel_agent_run_status) (rate(otel_agent_runs_finished_total{{{PS}}}[$__rate_interval]))",
        unit="reqps",
        legend="{{otel_agent_run_status}}",
    ),
    prom(
        "p95 run latency by stage",
        "histogram_quantile(0.95, sum by (le, otel_agent_stage) "
        f"(rate(otel_agent_run_duration_seconds_bucket{{{PS}}}[$__rate_interval])))",
        unit="s",
        legend="{{otel_agent_stage}}",
    ),
    prom(
        "LLM calls per run (p50)",
        "histogram_quantile(0.5, sum by (le) "
        f"(rate(otel_agent_run_llm_calls_bucket{{{PS}}}[$__rate_interval])))",
        legend="p50",
    ),
    prom(
        "Runs by stage (Collector span metrics, any language)",
        "sum by (otel_agent_stage) "
        f"(rate(traces_span_metrics_calls_total{{{PS}, {RUN_OPS}}}[$__rate_interval]))",
        unit="reqps",
        legend="{{otel_agent_stage}}",
    ),
    prom(
        "Run error ratio by stage (Collector span metrics)",
        # "or ... * 0" gives stages without errors a 0 instead of no series.
        f"(sum by (otel_agent_stage) (rate(traces_span_metrics_calls_total{{{PS}, {RUN_OPS}, "
        f'status_code="STATUS_CODE_ERROR"}}[$__rate_interval])) or {RUN_RATE} * 0) / {RUN_RATE}',
        unit="percentunit",
        legend="{{otel_agent_stage}}",
    ),
    prom(
        "p95 span latency by stage (Collector span metrics)",
        "histogram_quantile(0.95, sum by (le, otel_agent_stage) "
        f"(rate(traces_span_metrics_duration_seconds_bucket{{{PS}, {RUN_OPS}}}[$__rate_interval])))",
        unit="s",
        legend="{{otel_agent_stage}}",
    ),
    sql(
        "Recent runs (nested runs are rows of their own, as in every count above)",
        """
        SELECT started_at, project, stage, agent_role, agent_name, name, status,
               duration_ms / 1000.0 AS duration_s, llm_calls, cost_usd, parent_run_id IS NOT NULL AS nested,
               trace_id
        FROM otel_runs
        WHERE $__timeFilter(started_at)
        ORDER BY started_at DESC LIMIT 100""",
    ),
    logs(
        "Logs (trace_id links to the trace in Tempo)",
        '{service_name=~".+"} | otel_agent_project=~"$project" | otel_agent_stage=~"$stage"',
    ),
]

COST = [
    prom(
        "Cost in range (USD)",
        f"sum(increase(otel_agent_cost_usd_total{{{PS}}}[$__range]))",
        "stat",
        "currencyUSD",
    ),
    # Beside the cost: calls of models with no known price are not in it (never priced at 0 silently).
    prom(
        "Unpriced LLM calls in range (not in the cost)",
        f"sum(increase(otel_agent_llm_unpriced_calls_total{{{PS}}}[$__range])) or vector(0)",
        "stat",
    ),
    prom(
        "Cost by model over time (USD per interval)",
        "sum by (gen_ai_provider_name, gen_ai_request_model) "
        f"(increase(otel_agent_cost_usd_total{{{PS}}}[$__rate_interval]))",
        unit="currencyUSD",
        legend="{{gen_ai_provider_name}} {{gen_ai_request_model}}",
    ),
    prom(
        "Unpriced LLM calls by model over time",
        "sum by (gen_ai_provider_name, gen_ai_request_model) "
        f"(increase(otel_agent_llm_unpriced_calls_total{{{PS}}}[$__rate_interval]))",
        legend="{{gen_ai_provider_name}} {{gen_ai_request_model}}",
    ),
    prom(
        "Burn rate (USD per hour)",
        f"sum(increase(otel_agent_cost_usd_total{{{PS}}}[1h]))",
        "stat",
        "currencyUSD",
    ),
    prom(
        "Cost by project",
        f"sum by (otel_agent_project) (increase(otel_agent_cost_usd_total{{{PS}}}[$__range]))",
        "bargauge",
        "currencyUSD",
        "{{otel_agent_project}}",
    ),
    prom(
        "Cost by stage",
        f"sum by (otel_agent_stage) (increase(otel_agent_cost_usd_total{{{PS}}}[$__range]))",
        "bargauge",
        "currencyUSD",
        "{{otel_agent_stage}}",
    ),
    prom(
        "Cost by agent role",
        f"sum by (otel_agent_agent_role) (increase(otel_agent_cost_usd_total{{{PS}}}[$__range]))",
        "bargauge",
        "currencyUSD",
        "{{otel_agent_agent_role}}",
    ),
    prom(
        "Cost by model",
        "sum by (gen_ai_provider_name, gen_ai_request_model) "
        f"(increase(otel_agent_cost_usd_total{{{PS}}}[$__range]))",
        "bargauge",
        "currencyUSD",
        "{{gen_ai_provider_name}} {{gen_ai_request_model}}",
    ),
    prom(
        "Burn rate by project (USD per hour)",
        f"sum by (otel_agent_project) (increase(otel_agent_cost_usd_total{{{PS}}}[1h]))",
        unit="currencyUSD",
        legend="{{otel_agent_project}}",
    ),
    prom(
        "Hourly cost against the hour before",
        f"sum(increase(otel_agent_cost_usd_total{{{PS}}}[1h]))"
        f" / sum(increase(otel_agent_cost_usd_total{{{PS}}}[1h] offset 1h))",
        unit="percentunit",
        legend="this hour / hour before",
    ),
    prom(
        "Calls of unpriced models",
        f"sum by (gen_ai_request_model) (increase(otel_agent_llm_unpriced_calls_total{{{PS}}}[$__range]))",
        "bargauge",
        legend="{{gen_ai_request_model}}",
    ),
    sql(
        "Most expensive runs",
        """
        SELECT started_at, project, stage, agent_role, name, total_cost_usd AS cost_usd,
               total_input_tokens AS input_tokens, total_output_tokens AS output_tokens,
               total_llm_calls AS llm_calls, total_unpriced_calls AS unpriced_calls, trace_id
        FROM ("""
        + ROOT_RUNS
        + """) runs
        WHERE $__timeFilter(started_at)
        ORDER BY total_cost_usd DESC LIMIT 20""",
    ),
    sql(
        "Cost by project and stage (run table)",
        """
        SELECT project, stage, count(*) AS runs, sum(cost_usd) AS cost_usd,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
        FROM otel_runs
        WHERE $__timeFilter(started_at)
        GROUP BY project, stage ORDER BY cost_usd DESC""",
    ),
]

FAILED_RUNS = f'otel_agent_runs_finished_total{{{PS}, otel_agent_run_status="failed"}}'

FAILURES = [
    prom(
        "Failed runs in range",
        f"sum(increase({FAILED_RUNS}[$__range])) or vector(0)",
        "stat",
    ),
    # The sweep (in the sink) declares runs stalled and counts them: their own process is usually gone.
    prom(
        "Stalled runs in range",
        f"sum(increase(otel_agent_runs_stalled_total{{{PS}}}[$__range])) or vector(0)",
        "stat",
    ),
    prom(
        "Top failing agents",
        "topk(10, sum by (gen_ai_agent_name, otel_agent_agent_role) "
        f"(increase({FAILED_RUNS}[$__range])))",
        "bargauge",
        legend="{{gen_ai_agent_name}} ({{otel_agent_agent_role}})",
    ),
    logs(
        "Error logs (trace_id links to the trace in Tempo)",
        '{service_name=~".+"} | otel_agent_project=~"$project" | otel_agent_stage=~"$stage"'
        ' | detected_level=~"(?i)error|critical|fatal"',
    ),
    prom(
        "Failed runs by category",
        "sum by (otel_agent_error_category) (increase(otel_agent_runs_finished_total"
        f'{{{PS}, otel_agent_run_status="failed"}}[$__range]))',
        "bargauge",
        legend="{{otel_agent_error_category}}",
    ),
    prom(
        "Errored spans by category (Collector span metrics)",
        "sum by (otel_agent_error_category) (rate(traces_span_metrics_calls_total"
        f'{{{PS}, status_code="STATUS_CODE_ERROR"}}[$__rate_interval]))',
        unit="reqps",
        legend="{{otel_agent_error_category}}",
    ),
    prom(
        "Seconds since a worker with runs in flight sent a marker",
        # last_over_time: a worker that died stops sending; keep showing it for an hour.
        "(time() - max by (job, instance) (last_over_time(otel_agent_worker_heartbeat_time_seconds[1h])))"
        " and on (job, instance)"
        " (sum by (job, instance) (last_over_time(otel_agent_runs_in_flight[1h])) > 0)",
        unit="s",
        legend="{{job}} {{instance}}",
    ),
    prom(
        "Spans dropped by our pipeline",
        'sum by (job) (rate({__name__=~"otel_agent_.*dropped.*_total"}[$__rate_interval]))',
        unit="reqps",
        legend="{{job}}",
    ),
    prom(
        "Spans the Collector failed to send",
        "sum by (exporter) "
        '(rate({__name__=~"otelcol_exporter_send_failed_spans(_total)?"}[$__rate_interval]))',
        unit="reqps",
        legend="{{exporter}}",
    ),
    sql(
        "Open failures",
        """
        SELECT occurred_at, project, stage, step_name, error_category, error_type, message, retry_attempt,
               trace_id
        FROM otel_failures
        WHERE $__timeFilter(occurred_at) AND NOT resolved
        ORDER BY occurred_at DESC LIMIT 200""",
    ),
    sql(
        "Stalled and running runs",
        """
        SELECT started_at, last_heartbeat_at, project, stage, agent_role, name, status, trace_id
        FROM otel_runs
        WHERE status IN ('stalled', 'running') AND $__timeFilter(started_at)
        ORDER BY started_at DESC LIMIT 100""",
    ),
]

PROVIDERS = [
    prom(
        "Tokens by model and type",
        "sum by (gen_ai_request_model, gen_ai_token_type) "
        f"(rate(otel_agent_tokens_total{{{PS}}}[$__rate_interval]))",
        unit="short",
        legend="{{gen_ai_request_model}} {{gen_ai_token_type}}",
    ),
    prom(
        "p95 tokens per call (semconv)",
        "histogram_quantile(0.95, sum by (le, gen_ai_token_type) "
        f"(rate(gen_ai_client_token_usage_bucket{{{PS}}}[$__rate_interval])))",
        legend="{{gen_ai_token_type}}",
    ),
    prom(
        "p95 call latency by provider and model",
        "histogram_quantile(0.95, sum by (le, gen_ai_provider_name, gen_ai_request_model) "
        f"(rate(gen_ai_client_operation_duration_seconds_bucket{{{PS}}}[$__rate_interval])))",
        unit="s",
        legend="{{gen_ai_provider_name}} {{gen_ai_request_model}}",
    ),
    prom(
        "p95 time to first chunk by provider",
        "histogram_quantile(0.95, sum by (le, gen_ai_provider_name) "
        f"(rate(gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{{PS}}}[$__rate_interval])))",
        unit="s",
        legend="{{gen_ai_provider_name}}",
    ),
    prom(
        "Rate-limited calls by provider",
        "sum by (gen_ai_provider_name) (rate(traces_span_metrics_calls_total"
        f'{{{PS}, otel_agent_error_category="rate_limit"}}[$__rate_interval]))',
        unit="reqps",
        legend="{{gen_ai_provider_name}}",
    ),
    prom(
        "Failed calls by provider and error type",
        "sum by (gen_ai_provider_name, error_type) (rate(gen_ai_client_operation_duration_seconds_count"
        f'{{{PS}, error_type!=""}}[$__rate_interval]))',
        unit="reqps",
        legend="{{gen_ai_provider_name}} {{error_type}}",
    ),
    prom(
        "LLM calls by provider and model (Collector span metrics)",
        "sum by (gen_ai_provider_name, gen_ai_request_model) (rate(traces_span_metrics_calls_total"
        f"{{{PS}, {LLM_OPS}}}[$__rate_interval]))",
        unit="reqps",
        legend="{{gen_ai_provider_name}} {{gen_ai_request_model}}",
    ),
    prom(
        "p95 LLM call latency by model (Collector span metrics)",
        "histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
        f"(rate(traces_span_metrics_duration_seconds_bucket{{{PS}, {LLM_OPS}}}[$__rate_interval])))",
        unit="s",
        legend="{{gen_ai_request_model}}",
    ),
    sql(
        "Slowest LLM calls",
        """
        SELECT started_at, project, stage, provider, request_model, duration_ms, time_to_first_chunk_s,
               input_tokens, output_tokens, cost_usd, error_category, trace_id
        FROM otel_steps
        WHERE kind = 'llm' AND $__timeFilter(started_at)
        ORDER BY duration_ms DESC NULLS LAST LIMIT 50""",
    ),
]

DASHBOARDS = {
    "otel-agent-overview": ("Agent overview", OVERVIEW),
    "otel-agent-cost": ("Agent cost", COST),
    "otel-agent-failures": ("Agent failures and stalled runs", FAILURES),
    "otel-agent-providers": ("LLM providers", PROVIDERS),
}


def variable(name: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": PROM,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "query": {"query": f"label_values(otel_agent_runs_started_total, {label})", "refId": "var"},
        "definition": f"label_values(otel_agent_runs_started_total, {label})",
    }


def panel(spec: dict[str, Any], index: int) -> dict[str, Any]:
    width = 8 if spec["type"] in ("stat", "bargauge") else (24 if spec["type"] == "table" else 12)
    field_config: dict[str, Any] = {"defaults": {"unit": spec["unit"]}, "overrides": []}
    if spec["type"] == "table":
        field_config["overrides"] = [
            {
                "matcher": {"id": "byName", "options": "trace_id"},
                "properties": [{"id": "links", "value": [TRACE_LINK]}],
            }
        ]
    return {
        "id": index + 1,
        "title": spec["title"],
        "type": spec["type"],
        "datasource": spec["datasource"],
        "gridPos": {"h": 8, "w": width, "x": 0, "y": index * 8},
        "fieldConfig": field_config,
        "targets": spec["targets"],
    }


def dashboard(uid: str, title: str, specs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["otel-agent"],
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "editable": True,
        "templating": {
            "list": [
                variable("project", "otel_agent_project"),
                variable("stage", "otel_agent_stage"),
                variable("role", "otel_agent_agent_role"),
                variable("agent", "gen_ai_agent_name"),
            ]
        },
        "links": [{"title": "otel-agent", "type": "dashboards", "tags": ["otel-agent"], "asDropdown": True}],
        "panels": [panel(spec, i) for i, spec in enumerate(specs)],
    }


def rendered() -> dict[Path, str]:
    return {
        OUT / f"{uid}.json": json.dumps(dashboard(uid, title, specs), indent=2) + "\n"
        for uid, (title, specs) in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [path.name for path, text in files.items() if not path.exists() or path.read_text() != text]
        if stale:
            print("out of date (run deploy/grafana/make_dashboards.py):", ", ".join(stale))
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
