"""The metrics processor downstream of the real enrichment: real pricing, roll-ups and run markers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_agent import attributes as A
from otel_agent.context import agent_run, agent_step, tool
from otel_agent.metrics import MetricsSpanProcessor, names
from tests.otel_capture import Captured, PatientMetricReader, install, reset_global_tracer_provider


@pytest.fixture
def setup() -> Iterator[tuple[Captured, InMemoryMetricReader]]:
    captured = install()
    reader = PatientMetricReader()
    captured.wrapper.add_downstream(MetricsSpanProcessor(MeterProvider(metric_readers=[reader])))
    yield captured, reader
    captured.provider.shutdown()
    reset_global_tracer_provider()


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        p
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]


def _chat(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> None:
    with trace.get_tracer("app").start_as_current_span(f"chat {model}") as call:
        call.set_attributes({
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.GEN_AI_PROVIDER_NAME: "openai",
            A.GEN_AI_REQUEST_MODEL: model, A.GEN_AI_RESPONSE_MODEL: model,
            A.GEN_AI_USAGE_INPUT_TOKENS: input_tokens, A.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cached,
        })


def test_cost_and_calls_equal_the_enriched_run_rollup(setup: tuple[Captured, InMemoryMetricReader]) -> None:
    captured, reader = setup
    with agent_run("book", project="books"):
        with agent_step(stage="outline", role="planner"):
            _chat("gpt-4o", 1234, 321, cached=200)
        with agent_step(agent="writer", role="writer"):  # a nested run
            _chat("gpt-4o-mini", 5000, 900)
            with tool("search"):
                pass
        _chat("no-such-model-xyz", 10, 10)
    outer = captured.one("invoke_workflow book").attributes or {}
    assert math.isclose(sum(p.value for p in _points(reader, names.COST.name)),
                        outer[A.ROLLUP_COST_USD], rel_tol=1e-12)  # fmt: skip
    by_stage = {p.attributes.get(A.STAGE): p.value for p in _points(reader, names.COST.name)}
    assert by_stage["outline"] == pytest.approx(0.006045)  # FACTS.md: gpt-4o, 1234 in (200 cached), 321 out
    (unpriced,) = _points(reader, names.UNPRICED_CALLS.name)
    assert unpriced.attributes[A.GEN_AI_REQUEST_MODEL] == "no-such-model-xyz"
    runs = sorted((p.attributes.get(A.GEN_AI_AGENT_NAME, ""), p.attributes[A.PROJECT], p.value)
                  for p in _points(reader, names.RUNS_FINISHED.name))  # fmt: skip
    assert runs == [("", "books", 1), ("writer", "books", 1)]  # the workflow and its nested writer run
    calls = sorted(p.sum for p in _points(reader, names.RUN_LLM_CALLS.name))
    assert calls == [1, 3]  # the writer's own call; the workflow's roll-up includes its child run's
    assert outer[A.ROLLUP_LLM_CALLS] == 3


def test_real_start_markers_make_the_run_visible_in_flight(
    setup: tuple[Captured, InMemoryMetricReader],
) -> None:
    _, reader = setup
    with agent_run("book", project="books"):
        (inflight,) = _points(reader, names.RUNS_IN_FLIGHT.name)
        assert inflight.value == 1 and inflight.attributes[A.PROJECT] == "books"
        (started,) = _points(reader, names.RUNS_STARTED.name)
        assert started.value == 1
        assert _points(reader, names.HEARTBEAT_TIME.name)[0].value > 1.7e9
    (inflight,) = _points(reader, names.RUNS_IN_FLIGHT.name)
    assert inflight.value == 0
    (started,) = _points(reader, names.RUNS_STARTED.name)
    assert started.value == 1
