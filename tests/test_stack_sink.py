"""The whole path with real parts: the example pipeline under opentelemetry-instrument -> the built gateway
Collector -> the real `otel-agent sink` -> PostgreSQL rows, and -> Prometheus by remote write. The dashboards'
SQL and PromQL panels then have data, and a sink outage in the middle of runs loses none of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from tests.services import ServiceProcess, create_database, prometheus_server
from tests.stack_support import (
    RULES,
    GatewayCollector,
    RecordingHttpBackend,
    RecordingTraceBackend,
    as_promql,
    dashboard_promql,
    dashboard_sql,
    grafana_macros,
    prom_query,
    rule_promql,
    run_example_pipeline,
    sink_process,
    wait_until,
)

pytestmark = [pytest.mark.collector, pytest.mark.prometheus, pytest.mark.postgres]

SQL_PANELS_WITH_DATA = {
    "otel-agent-overview/Recent runs (nested runs are rows of their own, as in every count above)",
    "otel-agent-cost/Most expensive runs",
    "otel-agent-cost/Cost by project and stage (run table)",
    "otel-agent-providers/Slowest LLM calls",
}
PROMQL_PANELS_WITH_DATA = {
    "otel-agent-overview/Runs started",
    "otel-agent-overview/Runs finished by status",
    "otel-agent-overview/p95 run latency by stage",
    "otel-agent-cost/Cost in range (USD)",
    "otel-agent-cost/Cost by model",
    "otel-agent-providers/Tokens by model and type",
    "otel-agent-providers/p95 call latency by provider and model",
    "otel-agent-providers/LLM calls by provider and model (Collector span metrics)",
}


@dataclass
class RealStack:
    database_url: str
    prometheus: str
    sink: ServiceProcess
    collector: GatewayCollector


def run_count(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM otel_runs WHERE parent_run_id IS NULL")).scalar()
                or 0
            )
    except sa.exc.ProgrammingError:  # the sink has not created the tables yet
        return 0
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def real_stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    pytest.importorskip("otel_agent.sink.store_writer", reason="the sink has not landed")
    database = _fresh_database(postgres_url)
    work_dir = tmp_path_factory.mktemp("real-stack")
    tempo, http = RecordingTraceBackend(), RecordingHttpBackend()
    tempo.start()
    sink, sink_grpc, sink_http = sink_process(database, work_dir)
    sink.start()
    ports = GatewayCollector.new_ports()
    scrape = {"otel-collector": f"127.0.0.1:{ports['metrics']}", "otel-agent-sink": sink_http.split("//")[1]}
    try:
        with prometheus_server((RULES,), scrape) as prom:
            write_url = f"{prom}/api/v1/write"
            collector = GatewayCollector(
                tempo.endpoint, sink_grpc, http.url, write_url, work_dir, ports=ports
            )
            collector.process.start()
            try:
                yield RealStack(database, prom, sink, collector)
            finally:
                collector.process.stop()
    finally:
        sink.stop()
        tempo.stop()
        http.close()


def _fresh_database(postgres_url: str) -> str:
    return create_database(postgres_url, prefix="stack_")


@pytest.fixture(scope="module")
def pipeline_ran(real_stack: RealStack) -> RealStack:
    """The example pipeline ran twice, as two processes; the second with a daily budget for its project,
    read from the store the sink writes (its gauges feed the 80% alert, docs/budgets.md)."""
    run_example_pipeline(real_stack.collector.otlp_grpc)
    assert wait_until(lambda: run_count(real_stack.database_url) >= 1, 30), real_stack.sink.log_tail()
    daily = {"OTEL_AGENT_DAILY_BUDGETS": "books=1000", "OTEL_AGENT_DATABASE_URL": real_stack.database_url}
    run_example_pipeline(real_stack.collector.otlp_grpc, extra_env=daily)
    assert wait_until(lambda: run_count(real_stack.database_url) >= 2, 30), real_stack.sink.log_tail()
    # Each example run is a short-lived process, so its counters are present rather than growing.
    ran = "sum(otel_agent_runs_finished_total) > 0"
    assert wait_until(lambda: bool(prom_query(real_stack.prometheus, ran)), 30)
    return real_stack


def run_trees(database_url: str) -> list[tuple[str, str, float, int]]:
    """(root run, the worst status in the tree, its cost, its LLM calls): a run row's totals cover its own
    steps, so a workflow's are the sum over its tree."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT root_run_id, min(status), sum(cost_usd), sum(llm_calls) FROM otel_runs"
                    " GROUP BY root_run_id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(root), str(status), float(cost), int(calls)) for root, status, cost, calls in rows]


def test_runs_reach_postgresql_through_the_collector_and_the_sink(pipeline_ran: RealStack) -> None:
    def complete(trees: list[tuple[str, str, float, int]]) -> bool:
        return len(trees) >= 2 and all(
            s in ("failed", "succeeded") and c > 0 and n > 0 for _, s, c, n in trees
        )

    # Spans of one run may land in different batches: wait until every tree is whole.
    wait_until(lambda: complete(run_trees(pipeline_ran.database_url)), 20)
    trees = run_trees(pipeline_ran.database_url)
    assert complete(trees), trees


def test_sql_panels_have_data(pipeline_ran: RealStack) -> None:
    queries = dict(dashboard_sql())
    engine = sa.create_engine(pipeline_ran.database_url)
    try:
        with engine.connect() as conn:
            empty = [
                panel
                for panel in SQL_PANELS_WITH_DATA
                if not conn.execute(sa.text(grafana_macros(queries[panel]).replace(":", r"\:"))).all()
            ]
    finally:
        engine.dispose()
    assert not empty, f"no rows in {empty}"


def test_promql_panels_have_data_from_the_example_pipeline(pipeline_ran: RealStack) -> None:
    queries = dict(dashboard_promql())

    def empty() -> list[str]:
        return [
            p
            for p in PROMQL_PANELS_WITH_DATA
            if not prom_query(pipeline_ran.prometheus, as_promql(queries[p]))
        ]

    wait_until(lambda: not empty(), 20)  # span metrics flush every second; rate() needs two samples
    assert not empty(), f"no data in {empty()}"


def test_the_sink_is_scraped(pipeline_ran: RealStack) -> None:
    up = 'up{job="otel-agent-sink"} == 1'
    assert wait_until(lambda: bool(prom_query(pipeline_ran.prometheus, up)), 15)
    written = "sum(otel_agent_sink_spans_written_total) > 0"
    assert wait_until(lambda: bool(prom_query(pipeline_ran.prometheus, written)), 15)


def all_runs(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM otel_runs")).scalar() or 0)
    finally:
        engine.dispose()


def test_one_run_processes_count_and_run_counts_agree_everywhere(pipeline_ran: RealStack) -> None:
    """Each example process has its own service.instance.id, so its counters are a series of their own;
    the rules' window count then sees every run, and it equals the table's count of runs (nested runs
    included, everywhere) and the Collector's span-metric count of run spans."""
    prom = pipeline_ran.prometheus
    instances = prom_query(prom, "count by (instance) (otel_agent_runs_finished_total)")
    assert len(instances) >= 2, instances  # one per process, never one shared series
    assert all(s["metric"]["instance"] for s in instances)
    rows = all_runs(pipeline_ran.database_url)
    started = as_promql(dict(dashboard_promql())["otel-agent-overview/Runs started"])

    def counts() -> tuple[float, float, float]:
        finished = "sum((increase(otel_agent_runs_finished_total[15m]) > 0) or (last_over_time("
        finished += "otel_agent_runs_finished_total[15m]) unless otel_agent_runs_finished_total offset 15m))"
        # The gateway is long-lived and started with this test: its cumulative counter is exact, where
        # increase() would extrapolate.
        spanned = f"sum(traces_span_metrics_calls_total{{{RUN_SPANS}}})"
        return tuple(  # type: ignore[return-value]
            float(prom_query(prom, expr)[0]["value"][1]) if prom_query(prom, expr) else 0.0
            for expr in (finished, started, spanned)
        )

    wait_until(lambda: counts() == (rows, rows, rows), 20)
    assert counts() == (rows, rows, rows), (counts(), rows)
    assert rows > run_count(pipeline_ran.database_url)  # the example nests runs: they count everywhere


def test_a_sink_outage_mid_run_loses_no_run(pipeline_ran: RealStack) -> None:
    before = run_count(pipeline_ran.database_url)
    pipeline_ran.sink.stop()
    try:
        run_example_pipeline(pipeline_ran.collector.otlp_grpc, runs=2)  # the Collector queues them
        assert run_count(pipeline_ran.database_url) == before
    finally:
        pipeline_ran.sink.start()
    # The gateway retries with backoff up to 30 s ±50% jitter (gateway.yaml), counted from its last failed
    # try, and the sink itself needs time to start under load: allow a few such intervals.
    arrived = wait_until(lambda: run_count(pipeline_ran.database_url) == before + 2, 150)
    assert arrived, pipeline_ran.collector.process.log_tail()


RUN_SPANS = 'gen_ai_operation_name=~"invoke_agent|invoke_workflow", otel_agent_marker=""'
METRIC_NAME = re.compile(r"\b((?:otel_agent|gen_ai|traces_span_metrics|otelcol)_[a-z0-9_]+)\b")
LABEL_LISTS = re.compile(r"\b(?:by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)|\{[^}]*\}")
# Series that exist only once something went wrong, or a streamed call ran (the example does not stream).
ONLY_ON_TROUBLE = {
    "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
    "otel_agent_llm_unpriced_calls_total",
    "otel_agent_runs_stalled_total",  # counted by a sweep; tests/test_stack_alerts.py makes one
    "otel_agent_sink_write_retries_total",
    "otel_agent_sink_spans_refused_total",
    "otel_agent_sink_requests_refused_total",  # most refusals come before decoding: counted per request
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_receiver_refused_spans_total",
    "otelcol_exporter_enqueue_failed_spans_total",
    # Exported once a worker's first read of the store is done; the short example process may exit first.
    # Its twin otel_agent_budget_daily_limit_usd (same meter, same path) must arrive.
    "otel_agent_budget_daily_spent_usd",
}


def test_every_metric_the_dashboards_and_rules_name_exists(pipeline_ran: RealStack) -> None:
    """Names agree with what the SDK, the sink and the Collector really export (docs/metrics.md)."""
    expressions = [expr for _, expr in dashboard_promql() + rule_promql()]
    named = {m for expr in expressions for m in METRIC_NAME.findall(LABEL_LISTS.sub("", expr))}
    assert "otel_agent_runs_finished_total" in named and "otel_agent_project" not in named
    query = 'group by (__name__) ({__name__=~"(otel_agent|gen_ai|traces_span_metrics|otelcol)_.+"})'

    def absent() -> set[str]:
        present = {s["metric"]["__name__"] for s in prom_query(pipeline_ran.prometheus, query)}
        return named - present - ONLY_ON_TROUBLE

    wait_until(lambda: not absent(), 20)
    assert not absent()
