"""The instruments, created once per meter, and the code that records one sample into them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context

from otel_agent import attributes as A
from otel_agent import guard as failures
from otel_agent.metrics import names as N
from otel_agent.metrics import pipeline, stalls
from otel_agent.metrics.cardinality import CardinalityGuard
from otel_agent.metrics.inflight import InFlightRuns
from otel_agent.metrics.samples import LlmSample, MarkerSample, RunSample, Sample, as_count, as_number
from otel_agent.metrics.totals import CounterTotals

_PROVIDER_MODEL = (A.GEN_AI_PROVIDER_NAME, A.GEN_AI_REQUEST_MODEL)
_TOKEN_TYPES = (
    A.TOKEN_TYPE_INPUT,
    A.TOKEN_TYPE_OUTPUT,
    A.TOKEN_TYPE_CACHE_READ,
    A.TOKEN_TYPE_CACHE_CREATION,
    A.TOKEN_TYPE_REASONING,
)


def _histogram(meter: Meter, spec: N.Spec) -> Histogram:
    buckets = list(spec.buckets) if spec.buckets else None
    return meter.create_histogram(
        spec.name, unit=spec.unit, description=spec.description, explicit_bucket_boundaries_advisory=buckets
    )


def _exemplar_context(span_context: SpanContext | None) -> Context | None:
    # Recording happens later on another thread: hand the span over explicitly so exemplars name it.
    if span_context is None or not span_context.is_valid:
        return None
    return set_span_in_context(NonRecordingSpan(span_context))


class AgentInstruments:
    """Every otel-agent metric on one meter, with one cardinality guard per metric."""

    def __init__(
        self,
        meter: Meter,
        max_series: int,
        before_observe: Callable[[], None],
        lock: AbstractContextManager[Any],
    ) -> None:
        self._before_observe = before_observe
        self.lock = lock  # held while draining and while reading the run state
        self._max_series = max_series
        self.inflight = InFlightRuns()
        self._overflow = self._totals(meter, N.OVERFLOW)
        self._overflow_labels: dict[str, dict[str, str]] = {}  # one dict per metric: CounterTotals keys
        self._guards: dict[str, CardinalityGuard] = {}
        self._create_genai(meter)
        self._create_agent(meter)
        self._create_observable(meter)

    # --- creation ----------------------------------------------------------------------------------

    def _guard(self, spec: N.Spec, labels: tuple[str, ...]) -> CardinalityGuard:
        guard = CardinalityGuard(spec.name, labels, self._max_series, self._count_overflow)
        self._guards[spec.name] = guard
        return guard

    def _create_genai(self, meter: Meter) -> None:
        model_attribution = N.MODEL_LABELS + N.ATTRIBUTION_LABELS
        self.token_usage = _histogram(meter, N.TOKEN_USAGE)
        self.g_token_usage = self._guard(N.TOKEN_USAGE, model_attribution + (A.GEN_AI_TOKEN_TYPE,))
        self.duration = _histogram(meter, N.OPERATION_DURATION)
        self.g_duration = self._guard(N.OPERATION_DURATION, model_attribution + (A.ERROR_TYPE,))
        self.ttfc = _histogram(meter, N.TIME_TO_FIRST_CHUNK)
        self.g_ttfc = self._guard(N.TIME_TO_FIRST_CHUNK, model_attribution)

    def _create_agent(self, meter: Meter) -> None:
        cost_labels = _PROVIDER_MODEL + N.ATTRIBUTION_LABELS
        by_status = N.ATTRIBUTION_LABELS + (A.RUN_STATUS,)
        self.tokens = self._totals(meter, N.TOKENS)
        self.g_tokens = self._guard(N.TOKENS, cost_labels + (A.GEN_AI_TOKEN_TYPE,))
        self.cost = self._totals(meter, N.COST)
        self.g_cost = self._guard(N.COST, cost_labels)
        self.credits = self._totals(meter, N.CREDITS)
        self.g_credits = self._guard(N.CREDITS, cost_labels)
        self.unpriced = self._totals(meter, N.UNPRICED_CALLS)
        self.g_unpriced = self._guard(N.UNPRICED_CALLS, cost_labels)
        self.started = self._totals(meter, N.RUNS_STARTED)
        self.g_started = self._guard(N.RUNS_STARTED, N.ATTRIBUTION_LABELS)
        self.finished = self._totals(meter, N.RUNS_FINISHED)
        self.g_finished = self._guard(N.RUNS_FINISHED, by_status + (A.ERROR_CATEGORY,))
        self.run_duration = _histogram(meter, N.RUN_DURATION)
        self.g_run_duration = self._guard(N.RUN_DURATION, by_status)
        self.run_llm_calls = _histogram(meter, N.RUN_LLM_CALLS)
        self.g_run_llm_calls = self._guard(N.RUN_LLM_CALLS, by_status)
        self.run_steps = _histogram(meter, N.RUN_STEPS)
        self.g_run_steps = self._guard(N.RUN_STEPS, by_status)
        self.g_in_flight = self._guard(N.RUNS_IN_FLIGHT, N.ATTRIBUTION_LABELS)

    def _totals(self, meter: Meter, spec: N.Spec) -> CounterTotals:
        totals = CounterTotals()
        callbacks = [self._observer(totals.observations)]
        meter.create_observable_counter(spec.name, callbacks, spec.unit, spec.description)
        return totals

    def _create_observable(self, meter: Meter) -> None:
        def gauge(spec: N.Spec, observe: Callable[[], Iterable[Observation]]) -> None:
            meter.create_observable_gauge(spec.name, [self._observer(observe)], spec.unit, spec.description)

        def counter(spec: N.Spec, observe: Callable[[], Iterable[Observation]]) -> None:
            callbacks = [self._observer(observe)]
            meter.create_observable_counter(spec.name, callbacks, spec.unit, spec.description)

        gauge(N.RUNS_IN_FLIGHT, self._observe_in_flight)
        gauge(N.RUNS_OLDEST_AGE, self._observe_oldest_age)
        counter(N.RUNS_STALLED, stalls.stalled_observations)
        gauge(N.HEARTBEAT_TIME, self._observe_heartbeat)
        counter(N.SPANS_DROPPED, lambda: _by_component(pipeline.dropped_totals()))
        counter(N.SPANS_SPOOLED, lambda: _by_component(pipeline.spooled_totals()))
        counter(N.INTERNAL_FAILURES, lambda: _by_component(failures.failure_counts()))

    def _observer(self, observe: Callable[[], Iterable[Observation]]) -> Any:
        # Every callback first drains the processor's buffer: the SDK runs all callbacks before it reads
        # the synchronous instruments, so one collection sees every span that ended before it.
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            with failures.guard("metrics.observe"), self.lock:
                self._before_observe()
                return list(observe())
            return []

        return callback

    def _observe_in_flight(self) -> Iterable[Observation]:
        return [Observation(count, attrs) for attrs, count in self.inflight.counts()]

    def _observe_oldest_age(self) -> Iterable[Observation]:
        now = time.time_ns()
        return [Observation(age, attrs) for attrs, age in self.inflight.oldest_ages(now)]

    def _observe_heartbeat(self) -> Iterable[Observation]:
        last = self.inflight.last_marker_unix_nano
        return [] if last is None else [Observation(last / 1e9)]

    def _count_overflow(self, metric: str) -> None:
        labels = self._overflow_labels.setdefault(metric, {A.METRIC: metric})
        self._overflow.add(1, labels)

    # --- recording ---------------------------------------------------------------------------------

    def record(self, sample: Sample) -> None:
        if isinstance(sample, LlmSample):
            self._record_llm(sample)
        elif isinstance(sample, RunSample):
            self._record_run(sample)
        else:
            self._record_marker(sample)

    def _record_llm(self, s: LlmSample) -> None:
        ctx = _exemplar_context(s.context)
        labels = s.model + s.attribution
        self.duration.record(s.duration_s, self.g_duration.attributes(labels + (s.error_type,)), ctx)
        ttfc = as_number(s.time_to_first_chunk_s)
        if ttfc is not None:
            self.ttfc.record(ttfc, self.g_ttfc.attributes(labels), ctx)
        tokens = [as_count(value) for value in s.tokens]
        for token_type, count in zip((A.TOKEN_TYPE_INPUT, A.TOKEN_TYPE_OUTPUT), tokens[:2], strict=True):
            if count is not None:
                self.token_usage.record(count, self.g_token_usage.attributes(labels + (token_type,)), ctx)
        cost_labels = (s.model[1], s.model[2]) + s.attribution
        for token_type, count in zip(_TOKEN_TYPES, tokens, strict=True):
            if count:
                self.tokens.add(count, self.g_tokens.attributes(cost_labels + (token_type,)))
        cost = as_number(s.cost_usd)
        if cost is not None:
            self.cost.add(cost, self.g_cost.attributes(cost_labels))
        credits = as_number(s.cost_credits)
        if credits is not None:
            self.credits.add(credits, self.g_credits.attributes(cost_labels))
        if s.unpriced:
            self.unpriced.add(1, self.g_unpriced.attributes(cost_labels))

    def _record_run(self, s: RunSample) -> None:
        if s.run_id is None or not self.inflight.ended(s.run_id):
            self.started.add(1, self.g_started.attributes(s.attribution))  # its start marker never came
        ctx = _exemplar_context(s.context)
        labels = s.attribution + (s.status,)
        self.finished.add(1, self.g_finished.attributes(labels + (s.error_category,)))
        self.run_duration.record(s.duration_s, self.g_run_duration.attributes(labels), ctx)
        if s.llm_calls is not None:
            self.run_llm_calls.record(s.llm_calls, self.g_run_llm_calls.attributes(labels), ctx)
        if s.steps is not None:
            self.run_steps.record(s.steps, self.g_run_steps.attributes(labels), ctx)

    def _record_marker(self, s: MarkerSample) -> None:
        self.inflight.marker(s.time_unix_nano)
        if s.kind != A.MARKER_RUN_START or s.run_id is None:
            return
        if self.inflight.started(s.run_id, self.g_in_flight.attributes(s.attribution), s.time_unix_nano):
            self.started.add(1, self.g_started.attributes(s.attribution))

    def series_count(self, metric: str) -> int:
        """Distinct label sets the guard admitted for ``metric`` (for tests and diagnostics)."""
        return self._guards[metric].series


def _by_component(totals: dict[str, int]) -> list[Observation]:
    return [Observation(count, {A.COMPONENT: component}) for component, count in totals.items()]
