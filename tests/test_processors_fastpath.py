"""Hot-path shortcuts of EnrichingSpanProcessor keep behaviour: skipped no-op hooks, in-place enrichment."""

# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from otel_agent import attributes as A
from otel_agent.processors.enriching import does_nothing
from tests.otel_capture import Captured, captured  # noqa: F401

LLM = {
    A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    A.GEN_AI_USAGE_INPUT_TOKENS: 1000,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
}


class Hooks(SpanProcessor):
    """Records every hook the wrapper calls, with the live span it was given."""

    def __init__(self) -> None:
        self.started: list[Span] = []
        self.ending: list[Span] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(span)

    def _on_ending(self, span: Span) -> None:
        self.ending.append(span)


class Documented(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""


def test_does_nothing_recognises_only_empty_methods() -> None:
    assert does_nothing(BatchSpanProcessor.on_start) and does_nothing(SimpleSpanProcessor._on_ending)
    assert does_nothing(SpanProcessor.on_start) and does_nothing(Documented().on_start)
    assert not does_nothing(Hooks().on_start) and not does_nothing(Hooks._on_ending)
    assert not does_nothing(lambda *args: 0)
    assert not does_nothing(len)  # no Python code to inspect: always called


def test_hooks_that_do_something_are_still_called(captured: Captured) -> None:
    hooks = Hooks()
    captured.wrapper.add_downstream(Documented())
    captured.wrapper.add_downstream(hooks)
    with trace.get_tracer("t").start_as_current_span("chat", attributes=LLM):
        pass
    assert [s.name for s in hooks.started] == ["chat"] and hooks.ending == hooks.started
    assert captured.wrapper._starting == (hooks,) and captured.wrapper._ending == (hooks,)


def test_enrichment_leaves_the_live_span_as_it_was(captured: Captured) -> None:
    hooks = Hooks()
    captured.wrapper.add_downstream(hooks)
    with trace.get_tracer("t").start_as_current_span("chat", attributes=LLM):
        pass
    live = hooks.started[0]
    exported = captured.one("chat")
    assert exported is not live and type(exported) is ReadableSpan
    assert exported.attributes[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES
    assert A.COST_USD in exported.attributes
    assert dict(live.attributes or {}) == LLM  # the application's span object keeps only its own attributes


def test_every_downstream_processor_sees_the_same_enriched_span(captured: Captured) -> None:
    seen: list[Any] = []

    class Keep(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            seen.append(span)

    captured.wrapper.add_downstream(Keep())
    with trace.get_tracer("t").start_as_current_span("chat", attributes=LLM):
        pass
    assert seen == [captured.one("chat")] and seen[0] is captured.one("chat")
    assert A.COST_USD in seen[0].attributes


def test_empty_hooks_are_not_called(captured: Captured) -> None:
    calls: list[str] = []
    quiet = Documented()
    captured.wrapper.add_downstream(quiet)
    quiet.on_start = lambda span, parent_context=None: calls.append("on_start")  # type: ignore[method-assign]
    quiet._on_ending = lambda span: calls.append("_on_ending")  # type: ignore[method-assign]
    with trace.get_tracer("t").start_as_current_span("chat", attributes=LLM):
        pass
    assert calls == []  # classified as empty when added: skipped on every span


def test_the_bound_context_getter_reads_the_current_context() -> None:
    from opentelemetry import context as otel_context

    from otel_agent.processors.attribution import _get_current

    token = otel_context.attach(otel_context.set_value("otel_agent.test", "here"))
    try:
        assert _get_current() is otel_context.get_current()
        assert _get_current().get("otel_agent.test") == "here"
    finally:
        otel_context.detach(token)
    assert _get_current().get("otel_agent.test") is None


def test_status_code_reads_the_sdk_field_and_falls_back_to_the_public_api(captured: Captured) -> None:
    from types import SimpleNamespace

    from opentelemetry.trace import Status, StatusCode

    from otel_agent.processors.enriching import status_code

    with trace.get_tracer("t").start_as_current_span("failing") as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    assert status_code(captured.one("failing")) is StatusCode.ERROR
    public_only = SimpleNamespace(status=Status(StatusCode.OK))
    assert status_code(public_only) is StatusCode.OK  # type: ignore[arg-type]
