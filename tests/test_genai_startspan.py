"""The LLM-call span started past the SDK's attribute re-cleaning is the span ``Tracer.start_span`` makes:
same ids, flags, trace state, attributes (in order), sampler input, ``on_start`` view and SDK metrics;
anything the shortcut does not cover takes the public path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import opentelemetry.attributes as otel_attributes
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import _disable_tracer_configurator as disable_all_tracers
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.util.types import Attributes

from otel_agent.genai import startspan
from otel_agent.genai.startspan import start_client_span
from tests.otel_capture import PatientMetricReader

ATTRIBUTES: dict[str, Any] = {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "server.address": "api.openai.com",
    "server.port": 443,
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.stream": True,
}


class FixedIds(IdGenerator):
    """The same ids on every provider, so spans from two providers can be compared whole."""

    def __init__(self) -> None:
        self.next_span = 0x1000

    def generate_span_id(self) -> int:
        self.next_span += 1
        return self.next_span

    def generate_trace_id(self) -> int:
        return 0xABC


class SeenOnStart(SpanProcessor):
    """Remembers the attributes each span had when on_start ran."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self.seen.append(dict(span.attributes))


class Recording(Sampler):
    """Wraps a sampler; remembers what it was asked with; optionally hands back other attributes."""

    def __init__(self, inner: Sampler, replace: Callable[[Attributes], Attributes] | None = None) -> None:
        self.inner, self.replace, self.asked = inner, replace, []  # type: ignore[var-annotated]

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        self.asked.append((name, kind, dict(attributes or {}), list(links or ())))
        result = self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links)
        if self.replace is None:
            return result
        return SamplingResult(result.decision, self.replace(result.attributes), result.trace_state)

    def get_description(self) -> str:
        return "recording"


def _view(span: Any) -> dict[str, Any]:
    """Everything the rest of the pipeline can see of a span."""
    if not isinstance(span, ReadableSpan):
        return {"non_recording": span.get_span_context(), "type": type(span)}
    return {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "kind": span.kind,
        "attributes": list((span.attributes or {}).items()),
        "dropped": span.dropped_attributes,
        "resource": span.resource,
        "scope": span.instrumentation_scope,
        "links": list(span.links),
        "events": list(span.events),
        "status": (span.status.status_code, span.status.description),
        "flags": span.context.trace_flags,
        "trace_state": span.context.trace_state,
    }


def _both_ways(
    parent: Context | None = None,
    make_sampler: Callable[[], Sampler] = lambda: ALWAYS_ON,
    **provider_args: Any,
) -> tuple[dict[str, Any], dict[str, Any], list[Any], list[Any]]:
    """(public view, shortcut view, what each sampler was asked, what each on_start saw)."""
    views, asked, seen = [], [], []
    for start in (_public_start, start_client_span):
        sampler, processor = Recording(make_sampler()), SeenOnStart()
        provider = TracerProvider(sampler=sampler, id_generator=FixedIds(), **provider_args)
        provider.add_span_processor(processor)
        span = start(provider.get_tracer("t"), "chat gpt-4o-mini", parent or Context(), dict(ATTRIBUTES))
        span.end()
        views.append(_view(span))
        asked.append(sampler.asked)
        seen.append(processor.seen)
    return views[0], views[1], asked, seen


def _public_start(tracer: trace.Tracer, name: str, parent: Context, attributes: dict[str, Any]) -> Any:
    return tracer.start_span(name, parent, SpanKind.CLIENT, attributes)


def _parent(flags: int, state: TraceState | None = None) -> Context:
    span_context = SpanContext(0xDEF, 0x77, is_remote=True, trace_flags=TraceFlags(flags), trace_state=state)
    return trace.set_span_in_context(NonRecordingSpan(span_context))


@pytest.fixture
def clean_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The span-attribute mappings the SDK cleaned (the work the shortcut exists to skip)."""
    calls: list[Any] = []
    original = otel_attributes._clean_attribute_value

    def counting(value: Any, max_len: int | None) -> Any:
        if isinstance(value, Mapping) and "gen_ai.operation.name" in value:  # not the resource's
            calls.append(value)
        return original(value, max_len)

    monkeypatch.setattr(otel_attributes, "_clean_attribute_value", counting)
    yield calls


def test_root_span_is_the_same_and_skips_the_cleaning(clean_calls: list[Any]) -> None:
    public, fast, asked, seen = _both_ways()
    assert fast == public
    assert fast["attributes"] == list(ATTRIBUTES.items())
    assert asked[0] == asked[1] and asked[1][0][2] == ATTRIBUTES  # the sampler saw them all
    assert seen[0] == seen[1] == [ATTRIBUTES]  # and so did on_start
    assert len(clean_calls) == 1  # by the public start; none by ours


@pytest.mark.parametrize("flags", [TraceFlags.SAMPLED, TraceFlags.DEFAULT, TraceFlags.SAMPLED | 0x02])
def test_child_spans_keep_the_parents_trace_flags_and_state(flags: int) -> None:
    parent = _parent(flags, TraceState([("vendor", "x")]))
    public, fast, asked, _ = _both_ways(parent, lambda: ParentBased(ALWAYS_ON))
    assert fast == public
    assert asked[0] == asked[1]


def test_a_sampler_that_drops_gives_the_same_non_recording_span() -> None:
    public, fast, _, seen = _both_ways(make_sampler=lambda: TraceIdRatioBased(0.0))
    assert fast == public and fast["type"] is NonRecordingSpan
    assert seen == [[], []]


def test_attributes_a_sampler_adds_or_changes_are_cleaned_as_the_sdk_does(clean_calls: list[Any]) -> None:
    def replace(given: Attributes) -> Attributes:
        return {**dict(given or {}), "server.port": 8443, "sampler.rule": ["a", "b"]}

    public, fast, _, seen = _both_ways(make_sampler=lambda: Recording(ALWAYS_ON, replace))
    assert fast == public
    assert dict(fast["attributes"])["sampler.rule"] == ("a", "b")  # cleaned: list to tuple
    assert seen[0] == seen[1]
    assert len(clean_calls) == 2  # both ways cleaned the sampler's mapping


def test_an_equal_but_not_identical_value_from_the_sampler_is_cleaned() -> None:
    copies = {key: (value if not isinstance(value, str) else value + "") for key, value in ATTRIBUTES.items()}
    copies["server.port"] = 443.0  # == 443, but a float: only the sampler's own value may be kept
    public, fast, _, _ = _both_ways(make_sampler=lambda: Recording(ALWAYS_ON, lambda _: copies))
    assert fast == public
    assert type(dict(fast["attributes"])["server.port"]) is float


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(max_span_attribute_length=4), SpanLimits(max_span_attributes=3)],
    ids=["len", "count"],
)
def test_span_limits_apply_as_on_the_public_path(limits: SpanLimits) -> None:
    public, fast, _, seen = _both_ways(span_limits=limits)
    assert fast == public
    assert seen[0] == seen[1]


def test_a_disabled_tracer_gives_the_parents_non_recording_span() -> None:
    parent = _parent(TraceFlags.SAMPLED)
    public, fast, asked, _ = _both_ways(parent, _tracer_configurator=disable_all_tracers)
    assert fast == public and fast["non_recording"].span_id == 0x77
    assert asked == [[], []]


def test_sdk_span_metrics_count_the_shortcut_like_the_public_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    points = []
    for start in (_public_start, start_client_span):
        reader = PatientMetricReader()
        provider = TracerProvider(meter_provider=MeterProvider(metric_readers=[reader]))
        tracer = provider.get_tracer("t")
        start(tracer, "chat", Context(), dict(ATTRIBUTES))  # still live
        start(tracer, "chat", Context(), dict(ATTRIBUTES)).end()
        points.append(_metric_values(reader))
    assert points[0] == points[1]
    assert points[1]["otel.sdk.span.live"] == 1 and points[1]["otel.sdk.span.started"] == 2


def _metric_values(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    assert data is not None
    values: dict[str, int] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                values[metric.name] = sum(point.value for point in metric.data.data_points)  # type: ignore
    return values


def test_a_proxy_tracer_made_before_the_provider_uses_the_provider_now_set(
    monkeypatch: pytest.MonkeyPatch, clean_calls: list[Any]
) -> None:
    proxy = trace.ProxyTracer("t")
    assert isinstance(start_client_span(proxy, "chat", Context(), dict(ATTRIBUTES)), NonRecordingSpan)
    provider = TracerProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    span = start_client_span(proxy, "chat", Context(), dict(ATTRIBUTES))
    assert isinstance(span, ReadableSpan) and dict(span.attributes or {}) == ATTRIBUTES
    assert clean_calls == []  # through the shortcut


def test_other_sdk_versions_and_tracers_take_the_public_path(
    monkeypatch: pytest.MonkeyPatch, clean_calls: list[Any]
) -> None:
    tracer = TracerProvider().get_tracer("t")
    monkeypatch.setattr(startspan, "_CHECKED", False)
    span = start_client_span(tracer, "chat", otel_context.get_current(), dict(ATTRIBUTES))
    assert dict(span.attributes or {}) == ATTRIBUTES  # type: ignore[attr-defined]
    assert len(clean_calls) == 1
    assert start_client_span(trace.NoOpTracer(), "chat", Context(), dict(ATTRIBUTES)) is trace.INVALID_SPAN


def test_the_installed_sdk_is_one_the_shortcut_was_checked_against() -> None:
    # When the SDK is upgraded this fails: read Tracer.start_span again, then extend CHECKED_SDK_LINES.
    version, checked = startspan._sdk_version, startspan.CHECKED_SDK_LINES
    assert startspan._CHECKED, f"opentelemetry-sdk {version} not in {checked}"


def test_a_span_made_by_the_shortcut_is_a_live_sdk_span() -> None:
    span = start_client_span(TracerProvider().get_tracer("t"), "chat", Context(), dict(ATTRIBUTES))
    span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024")
    with trace.use_span(span, end_on_exit=True):
        assert trace.get_current_span() is span
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024"  # type: ignore[attr-defined]
    assert span.end_time is not None  # type: ignore[attr-defined]


def test_a_parent_that_is_not_a_span_context_is_refused_as_by_the_sdk() -> None:
    class Odd(NonRecordingSpan):
        def get_span_context(self) -> Any:
            return "not a span context"

    parent = trace.set_span_in_context(Odd(trace.INVALID_SPAN_CONTEXT))
    tracer = TracerProvider().get_tracer("t")
    for start in (_public_start, start_client_span):
        with pytest.raises(TypeError):
            start(tracer, "chat", parent, dict(ATTRIBUTES))
