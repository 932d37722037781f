"""otel_agent.runs.stalled (counted by the process whose sweep declares a run stalled) and
otel_agent.runs.in_flight.oldest_age (the oldest open run, for the overdue-run alert)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_agent import attributes as A
from otel_agent.metrics import names, stalls
from otel_agent.metrics.inflight import InFlightRuns
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.store import Materialiser, make_engine, upgrade
from tests.test_store import marker
from tests.test_store_traces import agent_trace


@pytest.fixture(autouse=True)
def fresh_totals() -> Iterator[None]:
    stalls.reset_for_tests()
    yield
    stalls.reset_for_tests()


def stalled_points(reader: InMemoryMetricReader) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == names.RUNS_STALLED.name
        for point in metric.data.data_points
    ]


def test_a_sweep_counts_each_stalled_run_once_with_its_attribution(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    upgrade(engine)
    store = Materialiser(engine)
    trace = agent_trace(7, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)] + trace[:5])
    started = datetime.fromtimestamp(run.start_time_unix_nano / 1e9, timezone.utc)
    assert store.sweep(600, now=started + timedelta(seconds=599)) == []
    assert stalls.stalled_observations() == []
    assert store.sweep(600, now=started + timedelta(seconds=601)) == [run.span_id]
    assert store.sweep(600, now=started + timedelta(seconds=900)) == []  # stalled already: not again
    (observation,) = stalls.stalled_observations()
    assert observation.value == 1
    assert observation.attributes is not None
    assert observation.attributes[A.PROJECT] == "books"
    assert set(observation.attributes) == set(names.ATTRIBUTION_LABELS)  # never a run or trace id
    engine.dispose()


def test_the_sink_and_an_application_meter_both_publish_it() -> None:
    stalls.record_stalled({A.PROJECT: "books", A.STAGE: "edit", A.GEN_AI_AGENT_NAME: "editor"})
    sink = SinkMetrics(lambda: 0, 10)
    page = sink.prometheus_page()[0].decode()
    sink.shutdown()
    assert 'otel_agent_runs_stalled_total{gen_ai_agent_name="editor"' in page
    reader = InMemoryMetricReader()
    stalls.observe_stalled(MeterProvider(metric_readers=[reader]).get_meter("test"))
    (point,) = stalled_points(reader)
    assert point.value == 1 and point.attributes[A.STAGE] == "edit"


def test_series_are_bounded() -> None:
    for n in range(stalls.MAX_SERIES + 50):
        stalls.record_stalled({A.PROJECT: f"p{n}"})
    observations = stalls.stalled_observations()
    assert len(observations) == stalls.MAX_SERIES + 1
    other = [o for o in observations if o.attributes and o.attributes[A.PROJECT] == names.OTHER]
    assert other and other[0].value == 50


def test_bad_attribution_values_never_raise() -> None:
    stalls.record_stalled({A.PROJECT: None, A.STAGE: 3, A.AGENT_ROLE: "x" * 1000})
    (observation,) = stalls.stalled_observations()
    assert observation.attributes is not None
    assert len(str(observation.attributes[A.AGENT_ROLE])) == names.MAX_LABEL_CHARS


def test_oldest_age_is_the_oldest_open_run_of_each_series() -> None:
    runs = InFlightRuns()
    books, cards = {A.PROJECT: "books"}, {A.PROJECT: "cards"}
    second = 1_000_000_000
    runs.started("a", books, 100 * second)
    runs.started("b", books, 160 * second)
    runs.started("c", cards, 190 * second)
    ages = {attrs[A.PROJECT]: age for attrs, age in runs.oldest_ages(200 * second)}
    assert ages == {"books": 100.0, "cards": 10.0}
    runs.ended("a")
    runs.ended("c")
    ages = {attrs[A.PROJECT]: age for attrs, age in runs.oldest_ages(200 * second)}
    assert ages == {"books": 40.0}  # a series with no open run reports nothing, so the alert resolves


def test_the_metrics_processor_publishes_the_oldest_open_runs_age_from_its_start_marker() -> None:
    import time

    from tests.test_metrics import ATTRIBUTION, Harness

    h = Harness()
    run_id = "00000000000000cc"
    start = time.time_ns() - 90 * 1_000_000_000  # the run started 90 s ago
    marker_attrs = {A.MARKER: A.MARKER_RUN_START, A.RUN_ID: run_id, **ATTRIBUTION}
    h.tracer.start_span(A.MARKER_SPAN_NAME, attributes=marker_attrs, start_time=start).end(end_time=start)
    (age,) = h.points(names.RUNS_OLDEST_AGE.name)
    assert 90 <= age.value < 3600 and age.attributes[A.PROJECT] == "books"
    run = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.RUN_ID: run_id, **ATTRIBUTION}
    h.tracer.start_span("invoke_agent scribe", attributes=run, start_time=start).end()
    assert h.points(names.RUNS_OLDEST_AGE.name) == []  # ended: the series is gone, the alert resolves
