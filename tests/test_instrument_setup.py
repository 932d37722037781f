"""Programmatic set-up: configure(), instrument(), extensions, propagator choice, settings parsing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agent import attributes as A
from otel_agent import extensions, guard, setup
from otel_agent.processors.enriching import EnrichingSpanProcessor
from otel_agent.processors.markers import RunMarkers
from otel_agent.propagation import AllowListBaggagePropagator
from otel_agent.settings import Settings
from tests.otel_capture import reset_global_tracer_provider

LLM = {
    A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    A.GEN_AI_USAGE_INPUT_TOKENS: 10,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
}
QUIET = Settings(heartbeat_interval_s=0)


class Recording(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


@pytest.fixture(autouse=True)
def clean_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_PROPAGATORS", raising=False)
    monkeypatch.setattr(extensions, "_processor_factories", {})
    monkeypatch.setattr(extensions, "_instrument_hooks", {})
    monkeypatch.setattr(extensions, "_from_entry_points", lambda group: {})  # only what a test registers
    previous = propagate.get_global_textmap()
    reset_global_tracer_provider()
    yield
    reset_global_tracer_provider()
    propagate.set_global_textmap(previous)


def _llm_span(provider: TracerProvider) -> None:
    with provider.get_tracer("t").start_as_current_span("chat gpt-4o", attributes=LLM):
        pass


def test_instrument_wraps_processors_already_on_the_provider() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    wrapper = setup.instrument(provider, QUIET)
    assert isinstance(wrapper, EnrichingSpanProcessor)
    assert setup.instrument(provider, QUIET) is wrapper  # idempotent
    _llm_span(provider)
    assert exporter.get_finished_spans()[0].attributes[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES


def test_configure_builds_a_global_provider_with_exporters_downstream() -> None:
    exporter = InMemorySpanExporter()
    wrapper = setup.configure(processors=[SimpleSpanProcessor(exporter)], settings=QUIET)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider) and wrapper is not None
    _llm_span(provider)
    assert A.COST_USD in exporter.get_finished_spans()[0].attributes
    later = Recording()
    assert setup.add_span_processor(later)
    _llm_span(provider)
    assert A.COST_USD in later.ended[0].attributes  # added later, still downstream of enrichment


def test_disabled_configure_keeps_the_users_exporters_unenriched() -> None:
    exporter = InMemorySpanExporter()
    wrapper = setup.configure(processors=[SimpleSpanProcessor(exporter)], settings=Settings(enabled=False))
    assert wrapper is None
    _llm_span(trace.get_tracer_provider())  # type: ignore[arg-type]
    assert A.COST_USD not in exporter.get_finished_spans()[0].attributes


def test_extension_processors_and_hooks_run_and_failures_are_contained() -> None:
    seen: list[str] = []
    recording = Recording()
    extensions.register_span_processor("recording", lambda settings: recording)
    extensions.register_span_processor("off", lambda settings: None)
    extensions.register_span_processor("broken", lambda settings: 1 / 0)  # type: ignore[arg-type,return-value]
    extensions.register_instrument_hook("hook", lambda settings: seen.append("ran"))
    guard.reraise_in_tests(False)
    try:
        wrapper = setup.instrument(TracerProvider(), QUIET)
    finally:
        guard.reraise_in_tests(None)
    assert wrapper is not None and recording in wrapper.downstream and len(wrapper.downstream) == 1
    assert seen == ["ran"]
    assert guard.failure_counts().get("extension broken", 0) >= 1


def test_allow_listed_propagator_installed_only_when_the_user_chose_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup.instrument(TracerProvider(), Settings(heartbeat_interval_s=0, propagate_hosts=("svc.local",)))
    installed = propagate.get_global_textmap()
    assert any(isinstance(p, AllowListBaggagePropagator) for p in installed._propagators)  # type: ignore[attr-defined]
    marker = object()
    propagate.set_global_textmap(marker)  # type: ignore[arg-type]
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext,baggage")
    assert setup.install_propagator(QUIET) is False
    assert propagate.get_global_textmap() is marker


def test_no_sdk_provider_means_no_instrumentation() -> None:
    assert setup.instrument(trace.NoOpTracerProvider(), QUIET) is None  # type: ignore[arg-type]


def test_markers_are_bounded_and_counted() -> None:
    sent: list[ReadableSpan] = []
    markers = RunMarkers(sent.append, interval_s=0, max_open_runs=1)
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    first, second = tracer.start_span("a"), tracer.start_span("b")
    markers.run_started(first, {})  # type: ignore[arg-type]
    markers.run_started(second, {})  # type: ignore[arg-type]
    markers.heartbeat_now()
    kinds = [s.attributes[A.MARKER] for s in sent]
    assert kinds == ["run.start", "run.start", "run.heartbeat"] and markers.overflow == 1


@pytest.mark.parametrize(
    ("env", "field", "expected", "warns"),
    [
        ({"OTEL_AGENT_HEARTBEAT_INTERVAL": "5"}, "heartbeat_interval_s", 5.0, False),
        ({"OTEL_AGENT_HEARTBEAT_INTERVAL": "soon"}, "heartbeat_interval_s", 30.0, True),
        ({"OTEL_AGENT_HEARTBEAT_INTERVAL": "-1"}, "heartbeat_interval_s", 30.0, True),
        ({"OTEL_AGENT_HEARTBEAT_INTERVAL": "nan"}, "heartbeat_interval_s", 30.0, True),
        ({"OTEL_AGENT_ENABLED": "no"}, "enabled", False, False),
        ({"OTEL_AGENT_ENABLED": "maybe"}, "enabled", True, True),
        (
            {"OTEL_AGENT_PROPAGATE_HOSTS": " API.corp , *.svc ,"},
            "propagate_hosts",
            ("api.corp", "*.svc"),
            False,
        ),
        ({"OTEL_AGENT_PRICE_FILE": "  "}, "price_file", None, False),
    ],
)
def test_settings_parse_and_fall_back_on_bad_values(
    env: dict[str, str], field: str, expected: object, warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    assert getattr(Settings.from_env(env), field) == expected
    assert (next(iter(env)) in caplog.text) is warns  # a bad value is reported, naming the variable


def test_declarative_config_keeps_its_own_propagators(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = object()
    propagate.set_global_textmap(marker)  # type: ignore[arg-type]
    monkeypatch.setenv("OTEL_CONFIG_FILE", "/etc/otel.yaml")
    assert setup.install_propagator(QUIET) is False and propagate.get_global_textmap() is marker
