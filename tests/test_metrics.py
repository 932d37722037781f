"""Metric values from known runs, read back with the SDK's in-memory reader."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode, Tracer

from otel_agent import attributes as A
from otel_agent.metrics import MetricsSpanProcessor, names, record_dropped, record_spooled
from tests.otel_capture import PatientMetricReader

S = 1_000_000_000  # nanoseconds per second
T0 = 1_700_000_000 * S
ATTRIBUTION = {A.PROJECT: "books", A.STAGE: "draft", A.AGENT_ROLE: "writer", A.GEN_AI_AGENT_NAME: "scribe"}


class Harness:
    """A tracer whose spans feed a MetricsSpanProcessor, and a reader to look at the result."""

    def __init__(self, max_series: int = 1000, buffer_size: int = 65536) -> None:
        self.reader = PatientMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.processor = MetricsSpanProcessor(self.meters, max_series=max_series, buffer_size=buffer_size)
        self.traces = TracerProvider()
        self.traces.add_span_processor(self.processor)
        self.tracer: Tracer = self.traces.get_tracer("test")

    def span(self, name: str, attrs: dict[str, Any], start_s: float = 0, end_s: float = 1,
             error: bool = False) -> Any:
        span = self.tracer.start_span(name, attributes=attrs, start_time=T0 + int(start_s * S))
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=T0 + int(end_s * S))
        return span

    def llm(self, model: str = "gpt-4o", cost: float | None = 0.001, **extra: Any) -> Any:
        attrs = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_PROVIDER_NAME: "openai",
            A.GEN_AI_REQUEST_MODEL: model,
            A.GEN_AI_RESPONSE_MODEL: model + "-2024",
            A.GEN_AI_USAGE_INPUT_TOKENS: 100,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
            A.RUN_ID: "00000000000000aa",
            **ATTRIBUTION,
        }
        if cost is not None:
            attrs[A.COST_USD] = cost
        attrs.update(extra)
        return self.span(f"chat {model}", attrs, end_s=1.5)

    def points(self, name: str) -> list[Any]:
        return list(_points(self.reader, name))


def _points(reader: InMemoryMetricReader, name: str) -> Iterator[Any]:
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    yield from metric.data.data_points


def _total(points: list[Any]) -> float:
    return sum(p.sum if hasattr(p, "bucket_counts") else p.value for p in points)


def _only(points: list[Any], **labels: str) -> Any:
    matching = [p for p in points if all(p.attributes.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (labels, [p.attributes for p in points])
    return matching[0]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_llm_call_records_semconv_histograms_with_recommended_buckets(h: Harness) -> None:
    h.llm()
    usage = h.points(names.TOKEN_USAGE.name)
    inp = _only(usage, **{A.GEN_AI_TOKEN_TYPE: "input"})
    out = _only(usage, **{A.GEN_AI_TOKEN_TYPE: "output"})
    assert (inp.count, inp.sum, out.count, out.sum) == (1, 100, 1, 20)
    assert tuple(inp.explicit_bounds) == names.TOKEN_BUCKETS
    assert inp.attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert inp.attributes[A.PROJECT] == "books" and inp.attributes[A.AGENT_ROLE] == "writer"
    duration = _only(h.points(names.OPERATION_DURATION.name))
    assert duration.sum == pytest.approx(1.5)
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    assert A.ERROR_TYPE not in duration.attributes
    assert h.points(names.TIME_TO_FIRST_CHUNK.name) == []  # not a stream


def test_stream_records_time_to_first_chunk(h: Harness) -> None:
    h.llm(**{A.TIME_TO_FIRST_CHUNK_S: 0.25})
    assert _only(h.points(names.TIME_TO_FIRST_CHUNK.name)).sum == pytest.approx(0.25)


def test_failed_call_labels_duration_with_error_type(h: Harness) -> None:
    h.span("chat m", {A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.ERROR_TYPE: "RateLimitError"}, error=True)
    h.span("chat m", {A.GEN_AI_OPERATION_NAME: A.OP_CHAT}, error=True)
    types = sorted(p.attributes[A.ERROR_TYPE] for p in h.points(names.OPERATION_DURATION.name))
    assert types == ["RateLimitError", "_OTHER"]


def test_tokens_counter_by_type_keeps_breakdowns_inside_totals(h: Harness) -> None:
    h.llm(**{
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 60,
        A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 10,
        A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 5,
    })
    by_type = {p.attributes[A.GEN_AI_TOKEN_TYPE]: p.value for p in h.points(names.TOKENS.name)}
    assert by_type == {"input": 100, "output": 20, "cache_read": 60, "cache_creation": 10, "reasoning": 5}


def test_cost_total_equals_the_runs_rollup(h: Harness) -> None:
    costs = [0.0012, 0.0031, 0.00045]
    for cost in costs:
        h.llm(cost=cost)
    h.llm(model="mystery-1", cost=None, **{A.PRICE_SOURCE: A.PRICE_SOURCE_UNPRICED})
    h.span("invoke_agent scribe", {
        A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.RUN_ID: "00000000000000aa",
        A.ROLLUP_COST_USD: sum(costs), A.ROLLUP_LLM_CALLS: 4, A.ROLLUP_TOOL_CALLS: 2, **ATTRIBUTION,
    }, end_s=42)
    assert math.isclose(_total(h.points(names.COST.name)), sum(costs), rel_tol=1e-12)
    unpriced = _only(h.points(names.UNPRICED_CALLS.name))
    assert unpriced.value == 1 and unpriced.attributes[A.GEN_AI_REQUEST_MODEL] == "mystery-1"
    assert _only(h.points(names.RUN_LLM_CALLS.name)).sum == 4
    assert _only(h.points(names.RUN_STEPS.name)).sum == 6


def test_run_lifecycle_started_in_flight_finished(h: Harness) -> None:
    run_id = "00000000000000bb"
    marker = {A.MARKER: A.MARKER_RUN_START, A.RUN_ID: run_id, **ATTRIBUTION}
    h.span(A.MARKER_SPAN_NAME, marker, start_s=0, end_s=0)
    h.span(A.MARKER_SPAN_NAME, {**marker, A.MARKER: A.MARKER_RUN_HEARTBEAT}, start_s=30, end_s=30)
    assert _only(h.points(names.RUNS_STARTED.name)).value == 1
    assert _only(h.points(names.RUNS_IN_FLIGHT.name)).value == 1
    assert _only(h.points(names.HEARTBEAT_TIME.name)).value == pytest.approx(T0 / S + 30)
    run = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.RUN_ID: run_id, A.RUN_STATUS: "succeeded"}
    h.span("invoke_agent scribe", {**run, **ATTRIBUTION}, end_s=95)
    assert _only(h.points(names.RUNS_STARTED.name)).value == 1  # not counted again at the end
    assert _only(h.points(names.RUNS_IN_FLIGHT.name)).value == 0  # reported as 0, not dropped
    finished = _only(h.points(names.RUNS_FINISHED.name))
    assert finished.value == 1 and finished.attributes[A.RUN_STATUS] == "succeeded"
    assert A.RUN_ID not in finished.attributes
    duration = _only(h.points(names.RUN_DURATION.name))
    assert duration.sum == pytest.approx(95) and tuple(duration.explicit_bounds) == names.RUN_DURATION_BUCKETS


def test_run_without_start_marker_is_counted_started_at_its_end(h: Harness) -> None:
    h.span("job", {A.RUN: True, A.RUN_ID: "00000000000000cc", **ATTRIBUTION}, error=True)
    assert _only(h.points(names.RUNS_STARTED.name)).value == 1
    finished = _only(h.points(names.RUNS_FINISHED.name))
    assert finished.attributes[A.RUN_STATUS] == "failed"
    assert finished.attributes[A.ERROR_CATEGORY] == "unknown"


def test_failed_run_keeps_its_error_category_and_bad_status_falls_back(h: Harness) -> None:
    run = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW, A.ERROR_CATEGORY: "rate_limit"}
    h.span("invoke_workflow a", {**run, A.RUN_STATUS: "failed"}, error=True)
    h.span("invoke_workflow b", {**run, A.RUN_STATUS: "exploded"}, error=True)
    finished = _only(h.points(names.RUNS_FINISHED.name))
    assert finished.value == 2
    labels = finished.attributes
    assert (labels[A.RUN_STATUS], labels[A.ERROR_CATEGORY]) == ("failed", "rate_limit")


IDS = {A.RUN_ID, A.USER_ID, A.SESSION_ID, A.GEN_AI_CONVERSATION_ID}


def test_ids_are_never_labels(h: Harness) -> None:
    h.llm(**{A.USER_ID: "u-1", A.SESSION_ID: "s-1", A.GEN_AI_CONVERSATION_ID: "c-1"})
    data = h.reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    assert not IDS & set(point.attributes)


def test_exemplars_name_the_span(h: Harness) -> None:
    span = h.llm()
    point = _only(h.points(names.OPERATION_DURATION.name))
    assert [e.trace_id for e in point.exemplars] == [span.get_span_context().trace_id]


def test_cardinality_guard_under_10000_model_names() -> None:
    h = Harness(max_series=50)
    for i in range(10_000):
        h.llm(model=f"model-{i}", cost=0.5)
    cost = h.points(names.COST.name)
    assert len(cost) == 51  # 50 admitted label sets + one "other"
    other = _only(cost, **{A.GEN_AI_REQUEST_MODEL: "other"})
    assert other.attributes[A.PROJECT] == "other"
    assert other.value == pytest.approx(0.5 * 9_950)
    assert _total(cost) == pytest.approx(0.5 * 10_000)  # folded, never lost
    usage = h.points(names.TOKEN_USAGE.name)
    assert len(usage) == 52  # enumerated token type survives folding: other/input and other/output
    overflow = {p.attributes[A.METRIC]: p.value for p in h.points(names.OVERFLOW.name)}
    assert overflow[names.COST.name] == 9_950
    assert overflow[names.TOKEN_USAGE.name] == 2 * 10_000 - 50


def test_pipeline_counters_report_drops_and_spools(h: Harness) -> None:
    record_dropped("test_component", 3)
    record_dropped("test_component", 2)
    record_spooled("test_spool", 7)
    record_dropped("test_component", -1)  # nonsense counts are ignored
    h.llm()  # activates the processor's instruments
    assert _only(h.points(names.SPANS_DROPPED.name), **{A.COMPONENT: "test_component"}).value == 5
    assert _only(h.points(names.SPANS_SPOOLED.name), **{A.COMPONENT: "test_spool"}).value == 7


def test_full_buffer_drops_and_counts_instead_of_growing() -> None:
    h = Harness(buffer_size=3)
    h.llm()  # activates; buffered
    h.reader.get_metrics_data()  # drains
    for _ in range(5):
        h.llm()
    duration = _only(h.points(names.OPERATION_DURATION.name))
    assert duration.count == 4  # 1 + the 3 that fitted
    assert _only(h.points(names.SPANS_DROPPED.name), **{A.COMPONENT: "metrics"}).value >= 2


def test_odd_values_are_not_counted_and_never_raise(h: Harness) -> None:
    h.llm(**{A.GEN_AI_USAGE_INPUT_TOKENS: -5, A.GEN_AI_USAGE_OUTPUT_TOKENS: "many", A.COST_USD: float("nan")})
    h.llm(model="x" * 1000, **{A.PROJECT: 12})
    usage = h.points(names.TOKEN_USAGE.name)
    assert all(len(v) <= names.MAX_LABEL_CHARS for p in usage for v in p.attributes.values())
    assert _only(usage, **{A.PROJECT: "12", A.GEN_AI_TOKEN_TYPE: "input"}).sum == 100
    assert [p.sum for p in usage if p.attributes[A.PROJECT] == "books"] == []
    assert _total(h.points(names.COST.name)) == pytest.approx(0.001)


def test_spans_that_feed_no_metric_are_ignored(h: Harness) -> None:
    h.span("GET /", {"http.request.method": "GET"})
    h.span("execute_tool search", {A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL})
    assert h.processor.instruments is None  # nothing ever needed recording


def test_a_provider_without_readers_turns_metrics_off() -> None:
    processor = MetricsSpanProcessor(MeterProvider(metric_readers=[]))
    traces = TracerProvider()
    traces.add_span_processor(processor)
    span = traces.get_tracer("t").start_span("chat m", attributes={A.GEN_AI_OPERATION_NAME: A.OP_CHAT})
    span.end()
    assert processor.instruments is None and len(processor._buffer) == 0


def test_threads_ending_spans_while_collecting_lose_nothing() -> None:
    h = Harness()
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            h.reader.get_metrics_data()

    def calls() -> None:
        for _ in range(500):
            h.llm(cost=0.25)
            h.span("run", {A.RUN: True, A.RUN_ID: f"{threading.get_ident():016x}"[-16:], **ATTRIBUTION})

    collector = threading.Thread(target=collect)
    collector.start()
    workers = [threading.Thread(target=calls) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    collector.join()
    assert _total(h.points(names.COST.name)) == pytest.approx(0.25 * 2000)
    assert _only(h.points(names.RUNS_FINISHED.name)).value == 2000


def test_contained_failures_are_reported(h: Harness) -> None:
    from otel_agent.guard import record_failure

    record_failure("test_metrics_component", ValueError("contained"))
    h.llm()
    point = _only(h.points(names.INTERNAL_FAILURES.name), **{A.COMPONENT: "test_metrics_component"})
    assert point.value >= 1


def test_registered_as_an_extension_and_off_by_setting() -> None:
    from otel_agent.extensions import build_span_processors
    from otel_agent.metrics import from_settings
    from otel_agent.settings import Settings

    assert any(isinstance(p, MetricsSpanProcessor) for p in build_span_processors(Settings()))
    assert from_settings(Settings(metrics=False)) is None
    built = from_settings(Settings.from_env({"OTEL_AGENT_METRICS_MAX_SERIES": "7"}))
    assert built is not None and built._max_series == 7
