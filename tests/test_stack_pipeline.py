"""A Python app exports OTLP through the real gateway Collector into a real Prometheus (remote write) and
into recording OTLP backends that stand in for Tempo and the sink. Then every PromQL expression of the
dashboards and alert rules runs against that Prometheus, and the key panels have data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from otel_agent import attributes as A
from tests.services import prometheus_server
from tests.stack_support import (
    RULES,
    GatewayCollector,
    RecordingHttpBackend,
    RecordingTraceBackend,
    as_promql,
    dashboard_promql,
    prom_query,
    rule_promql,
    wait_until,
)

pytestmark = [pytest.mark.collector, pytest.mark.prometheus]

SECRET = "sk-proj-" + "A1b2C3d4" * 4


@dataclass
class Workload:
    """Agent runs of known shapes; which traces tail sampling must keep is known up front."""

    tracer: Tracer
    kept: set[str] = field(default_factory=set)  # trace ids Tempo must get: errored, slow, expensive
    sampled_out: set[str] = field(default_factory=set)
    all_traces: set[str] = field(default_factory=set)

    def run(self, stage: str, *, cost: float = 0.002, error: str | None = None, seconds: float = 1.5) -> None:
        end = time.time_ns()
        start = end - int(seconds * 1e9)
        run_attrs = {
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
            A.PROJECT: "books",
            A.STAGE: stage,
            A.AGENT_ROLE: "writer",
            A.GEN_AI_AGENT_NAME: "writer",
            A.RUN_STATUS: "failed" if error else "succeeded",
            A.ROLLUP_COST_USD: cost,
        }
        run = self.tracer.start_span("invoke_agent writer", attributes=run_attrs, start_time=start)
        trace_id = format(run.get_span_context().trace_id, "032x")
        from opentelemetry import trace

        with trace.use_span(run, end_on_exit=False):
            self._llm_call(stage, cost, error, start)
        if error:
            run.set_status(Status(StatusCode.ERROR, error))
            run.set_attribute(A.ERROR_CATEGORY, error)
        run.end(end_time=end)
        self.all_traces.add(trace_id)
        keep = bool(error) or seconds > 30 or cost >= 0.10
        (self.kept if keep else self.sampled_out).add(trace_id)

    def _llm_call(self, stage: str, cost: float, error: str | None, start: int) -> None:
        attrs: dict[str, AttributeValue] = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_PROVIDER_NAME: "openai",
            A.GEN_AI_REQUEST_MODEL: "gpt-4o",
            A.PROJECT: "books",
            A.STAGE: stage,
            A.AGENT_ROLE: "writer",
            A.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
            A.COST_USD: cost,
            A.PRICE_SOURCE: A.PRICE_SOURCE_GENAI_PRICES,
            A.GEN_AI_INPUT_MESSAGES: '[{"role": "user", "content": "a secret plot"}]',
            "http.request.header.x_debug": f"key={SECRET}",
        }
        call = self.tracer.start_span(
            "chat gpt-4o", kind=SpanKind.CLIENT, attributes=attrs, start_time=start + 1_000_000
        )
        if error:
            call.set_attribute(A.ERROR_CATEGORY, error)
            call.set_attribute(A.ERROR_TYPE, "429")
            call.set_status(Status(StatusCode.ERROR, "rate limited"))
        call.end(end_time=start + 900_000_000)


@dataclass
class App:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    workload: Workload

    def flush(self) -> None:
        assert self.tracer_provider.force_flush(20_000)
        assert self.meter_provider.force_flush(20_000)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def start_app(collector_endpoint: str) -> App:
    """The instrumented application: SDK providers exporting OTLP gRPC to the Collector, plus otel-agent's
    metrics processor when that module is present (it turns finished spans into the agent metrics)."""
    resource = Resource.create({"service.name": "stack-test", "service.instance.id": "worker-1"})
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=collector_endpoint, insecure=True), export_interval_millis=500
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    tracer_provider = TracerProvider(resource=resource)
    try:
        from otel_agent.metrics.processor import MetricsSpanProcessor
    except ImportError:
        pass
    else:
        tracer_provider.add_span_processor(MetricsSpanProcessor(meter_provider))
    exporter = OTLPSpanExporter(endpoint=collector_endpoint, insecure=True)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    return App(tracer_provider, meter_provider, Workload(tracer_provider.get_tracer("stack-test")))


def run_wave(app: App) -> None:
    work = app.workload
    for _ in range(3):
        work.run("draft")
    work.run("review", error="rate_limit")
    work.run("edit", cost=0.5)
    work.run("plan", seconds=45)
    app.flush()


@dataclass
class Stack:
    prometheus: str
    tempo: RecordingTraceBackend
    sink: RecordingTraceBackend
    loki: RecordingHttpBackend
    collector: GatewayCollector
    app: App


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work_dir = tmp_path_factory.mktemp("stack")
    tempo, sink, loki = RecordingTraceBackend(), RecordingTraceBackend(), RecordingHttpBackend()
    tempo.start()
    sink.start()
    try:
        collector_ports = GatewayCollector.new_ports()
        with prometheus_server(
            (RULES,), {"otel-collector": f"127.0.0.1:{collector_ports['metrics']}"}
        ) as prom:
            collector = GatewayCollector(
                tempo.endpoint,
                sink.endpoint,
                loki.url,
                f"{prom}/api/v1/write",
                work_dir,
                ports=collector_ports,
            )
            collector.process.start()
            app = start_app(collector.otlp_grpc)
            try:
                yield Stack(prom, tempo, sink, loki, collector, app)
            finally:
                app.shutdown()
                collector.process.stop()
    finally:
        tempo.stop()
        sink.stop()
        loki.close()


@pytest.fixture(scope="module")
def flowed(stack: Stack) -> Stack:
    """Two waves of runs, so counters have a first sample and then grow (rate() needs both)."""
    run_wave(stack.app)
    assert wait_until(lambda: bool(prom_query(stack.prometheus, "traces_span_metrics_calls_total")), 30), (
        stack.collector.process.log_tail()
    )
    time.sleep(2)
    run_wave(stack.app)
    grown = 'sum(increase(traces_span_metrics_calls_total{otel_agent_stage="draft"}[1m])) > 0'
    assert wait_until(lambda: bool(prom_query(stack.prometheus, grown)), 30), (
        stack.collector.process.log_tail()
    )
    time.sleep(2)  # one more flush of the SDK metrics and span metrics
    return stack


def test_every_dashboard_and_rule_expression_runs_in_prometheus(flowed: Stack) -> None:
    expressions = [(name, as_promql(expr)) for name, expr in dashboard_promql()] + rule_promql()
    assert len(expressions) > 30
    for name, expr in expressions:
        try:
            prom_query(flowed.prometheus, expr)
        except AssertionError as exc:
            pytest.fail(f"{name}: {exc}")


def test_prometheus_refuses_a_broken_expression(flowed: Stack) -> None:
    """The check above can fail: an expression Prometheus cannot parse raises."""
    with pytest.raises(AssertionError, match="refused"):
        prom_query(flowed.prometheus, "sum by (le (rate(traces_span_metrics_calls_total[1m]))")


SPAN_METRIC_PANELS = {
    "otel-agent-overview/Runs by stage (Collector span metrics, any language)",
    "otel-agent-overview/Run error ratio by stage (Collector span metrics)",
    "otel-agent-overview/p95 span latency by stage (Collector span metrics)",
    "otel-agent-failures/Errored spans by category (Collector span metrics)",
    "otel-agent-providers/Rate-limited calls by provider",
    "otel-agent-providers/LLM calls by provider and model (Collector span metrics)",
    "otel-agent-providers/p95 LLM call latency by model (Collector span metrics)",
}
AGENT_METRIC_PANELS = {
    "otel-agent-overview/Runs started",
    "otel-agent-overview/Success rate",
    "otel-agent-overview/Runs finished by status",
    "otel-agent-overview/p95 run latency by stage",
    "otel-agent-cost/Cost in range (USD)",
    "otel-agent-cost/Cost by project",
    "otel-agent-cost/Cost by stage",
    "otel-agent-cost/Cost by agent role",
    "otel-agent-cost/Cost by model",
    "otel-agent-failures/Failed runs by category",
    "otel-agent-providers/Tokens by model and type",
    "otel-agent-providers/p95 call latency by provider and model",
}


def panel_values(stack: Stack, panels: set[str]) -> dict[str, list[dict[str, Any]]]:
    queries = dict(dashboard_promql())
    missing = panels - queries.keys()
    assert not missing, f"key panels not in the dashboards: {missing}"
    return {panel: prom_query(stack.prometheus, as_promql(queries[panel])) for panel in panels}


def test_span_metric_panels_have_data(flowed: Stack) -> None:
    empty = [panel for panel, result in panel_values(flowed, SPAN_METRIC_PANELS).items() if not result]
    assert not empty, f"no data in {empty}"


def test_span_metrics_carry_the_agent_dimensions(flowed: Stack) -> None:
    series = prom_query(flowed.prometheus, 'traces_span_metrics_calls_total{gen_ai_operation_name="chat"}')
    labels = {(s["metric"].get("otel_agent_stage"), s["metric"].get("gen_ai_request_model")) for s in series}
    assert {("draft", "gpt-4o"), ("review", "gpt-4o"), ("edit", "gpt-4o"), ("plan", "gpt-4o")} <= labels
    ratio = prom_query(
        flowed.prometheus,
        as_promql(
            dict(dashboard_promql())["otel-agent-overview/Run error ratio by stage (Collector span metrics)"]
        ),
    )
    by_stage = {s["metric"]["otel_agent_stage"]: float(s["value"][1]) for s in ratio}
    assert by_stage["review"] == 1.0 and by_stage["draft"] == 0.0


def test_agent_metric_panels_have_data(flowed: Stack) -> None:
    pytest.importorskip("otel_agent.metrics.processor", reason="otel_agent.metrics has not landed")
    empty = [panel for panel, result in panel_values(flowed, AGENT_METRIC_PANELS).items() if not result]
    assert not empty, f"no data in {empty}"


def rule_states(prometheus: str) -> list[dict[str, Any]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_collector_is_scraped_and_alert_rules_evaluate_cleanly(flowed: Stack) -> None:
    assert wait_until(lambda: bool(prom_query(flowed.prometheus, 'up{job="otel-collector"} == 1')), 15)
    assert len(rule_states(flowed.prometheus)) == len(rule_promql())
    assert wait_until(lambda: all(r["health"] == "ok" for r in rule_states(flowed.prometheus)), 15), [
        (r["name"], r["health"], r.get("lastError")) for r in rule_states(flowed.prometheus)
    ]


def test_tail_sampling_keeps_errored_slow_and_expensive_traces_only(flowed: Stack) -> None:
    work = flowed.app.workload
    assert wait_until(lambda: work.kept <= flowed.tempo.trace_ids(), 20), "Tempo lacks a kept trace"
    time.sleep(1.5)  # past the decision wait: a sampled-out trace would have arrived by now
    assert not (flowed.tempo.trace_ids() & work.sampled_out)


def test_the_sink_gets_every_trace_unsampled(flowed: Stack) -> None:
    work = flowed.app.workload
    assert wait_until(lambda: work.all_traces <= flowed.sink.trace_ids(), 20)


def test_content_and_secrets_are_scrubbed_before_leaving_the_gateway(flowed: Stack) -> None:
    calls = [s for s in flowed.sink.snapshot() + flowed.tempo.snapshot() if s.name == "chat gpt-4o"]
    assert calls
    for span in calls:
        assert A.GEN_AI_INPUT_MESSAGES not in span.attributes
        assert SECRET not in str(span.attributes)
        assert span.attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4o"  # the rest is intact


def test_rule_selectors_match_the_collectors_own_counter_names(flowed: Stack) -> None:
    """The Collector's counters are named without _total in this version; the rules must still match."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://{flowed.collector.metrics_target}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    families = set(re.findall(r"^# TYPE (otelcol_receiver_refused_spans\w*) counter$", exposition, re.M))
    assert families, "the Collector no longer exports otelcol_receiver_refused_spans"
    rules = RULES.read_text()
    selector = re.search(r'"(otelcol_receiver_refused_spans[^"]*)"', rules)
    assert selector and all(re.fullmatch(selector.group(1), family) for family in families)


def test_logs_reach_loki_at_its_otlp_path(flowed: Stack) -> None:
    """Logs leave the gateway by OTLP HTTP at Loki's /otlp/v1/logs (Loki 3's native OTLP endpoint)."""
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=flowed.collector.otlp_grpc, insecure=True))
    )
    try:
        record = LogRecord(
            body="run finished", severity_number=SeverityNumber.WARN, attributes={A.PROJECT: "books"}
        )
        provider.get_logger("stack-test").emit(record)
    finally:
        provider.shutdown()
    assert wait_until(lambda: flowed.loki.requests.get("/otlp/v1/logs", 0) > 0, 15), flowed.loki.requests
