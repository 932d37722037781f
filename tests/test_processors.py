# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

from dataclasses import fields

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status, StatusCode

from otel_agent import attributes as A
from otel_agent import guard
from otel_agent.context import agent_run, agent_step, tool
from otel_agent.processors import enriching
from otel_agent.processors.rollup import Totals
from otel_agent.settings import Settings
from tests.otel_capture import Captured, captured, install  # noqa: F401

LLM = {
    A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    A.GEN_AI_USAGE_INPUT_TOKENS: 1234,
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 200,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: 321,
}


def _llm(attrs: dict | None = None, name: str = "chat gpt-4o", fail: bool = False) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span(name, attributes=attrs or LLM) as span:
        if fail:
            span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
            span.set_attribute("http.response.status_code", 429)


class Recording(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class Exploding(SpanProcessor):
    def on_start(self, span: Span, parent_context: object = None) -> None:
        raise RuntimeError("downstream start bug")

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("downstream end bug")


def test_llm_span_gets_cost_and_canonical_usage(captured: Captured) -> None:
    _llm({**LLM, "gen_ai.usage.prompt_tokens": 1234})
    span = captured.one("chat gpt-4o")
    assert span.attributes[A.COST_USD] == pytest.approx(0.006045)
    assert span.attributes[A.PRICE_SOURCE] == A.PRICE_SOURCE_GENAI_PRICES
    assert A.USAGE_INVALID not in span.attributes


def test_plain_span_passes_through_untouched(captured: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    copies: list[str] = []
    real = enriching.with_attributes
    monkeypatch.setattr(
        enriching, "with_attributes", lambda span, added: copies.append(span.name) or real(span, added)
    )
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("plain", attributes={"http.method": "GET"}):
        pass
    with tracer.start_as_current_span("bare"):
        pass
    _llm()
    assert copies == ["chat gpt-4o"]  # only the span with something to add was copied
    assert dict(captured.one("plain").attributes) == {"http.method": "GET"}


def test_unpriced_model_is_marked_not_zero(captured: Captured) -> None:
    _llm({**LLM, A.GEN_AI_REQUEST_MODEL: "my-finetune-7"})
    attrs = captured.one("chat gpt-4o").attributes
    assert attrs[A.PRICE_SOURCE] == A.PRICE_SOURCE_UNPRICED and A.COST_USD not in attrs


@pytest.mark.parametrize(
    ("bad", "note"),
    [
        ({A.GEN_AI_USAGE_INPUT_TOKENS: -3}, "negative"),
        ({A.GEN_AI_USAGE_INPUT_TOKENS: 10**15}, "too large"),
        ({A.GEN_AI_USAGE_INPUT_TOKENS: "many"}, "has type str"),
        ({A.GEN_AI_USAGE_INPUT_TOKENS: b"\xff\xfe"}, ""),  # the SDK itself drops undecodable bytes
        ({A.GEN_AI_REQUEST_MODEL: None}, "missing model"),
    ],
)
def test_bad_input_marks_the_span_and_never_raises(captured: Captured, bad: dict, note: str) -> None:
    attrs = {k: v for k, v in {**LLM, **bad}.items() if v is not None}
    _llm(attrs)
    span = captured.one("chat gpt-4o")
    if note:
        assert any(note in n for n in span.attributes[A.USAGE_INVALID])


def test_error_category_and_run_status(captured: Captured) -> None:
    with pytest.raises(KeyError), agent_run("wf"), tool("lookup"):
        raise KeyError("missing")
    tool_span = captured.one("execute_tool lookup")
    assert tool_span.attributes[A.ERROR_CATEGORY] == "tool_error"
    assert tool_span.attributes[A.ERROR_TYPE] == "KeyError"
    run = captured.one("invoke_workflow wf")
    assert run.attributes[A.RUN_STATUS] == "failed"
    assert run.attributes[A.ROLLUP_ERRORS] == 1 and run.attributes[A.ROLLUP_TOOL_CALLS] == 1


def test_rollup_totals_with_nested_runs(captured: Captured) -> None:
    with agent_run("book", project="books"):
        _llm()
        with agent_step(agent="writer", role="writer"):
            _llm()
            _llm({**LLM, A.GEN_AI_REQUEST_MODEL: "unknown-model"})
            _llm(fail=True)
            with tool("search"):
                pass
    inner = captured.one("invoke_agent writer").attributes
    outer = captured.one("invoke_workflow book").attributes
    assert inner[A.ROLLUP_LLM_CALLS] == 3 and inner[A.ROLLUP_TOOL_CALLS] == 1
    assert inner[A.ROLLUP_UNPRICED_CALLS] == 1 and inner[A.ROLLUP_ERRORS] == 1
    assert inner[A.ROLLUP_INPUT_TOKENS] == 3 * 1234 and inner[A.ROLLUP_CACHE_READ_TOKENS] == 600
    assert inner[A.ROLLUP_COST_USD] == pytest.approx(2 * 0.006045)
    assert outer[A.ROLLUP_LLM_CALLS] == 4 and outer[A.ROLLUP_INPUT_TOKENS] == 4 * 1234
    assert outer[A.ROLLUP_COST_USD] == pytest.approx(3 * 0.006045)
    assert outer[A.ROLLUP_ERRORS] == 1  # the failed LLM call, counted once
    assert inner[A.RUN_PARENT_ID] == outer[A.RUN_ID] == outer[A.RUN_ROOT_ID] == inner[A.RUN_ROOT_ID]


def test_an_sdk_retry_is_the_same_call_again(captured: Captured) -> None:
    with agent_run("book", project="books"):
        _llm({**LLM, A.RETRY_ATTEMPT: 0}, fail=True)  # 429
        _llm({**LLM, A.RETRY_ATTEMPT: 1}, fail=True)  # 429 again
        _llm({**LLM, A.RETRY_ATTEMPT: 2})  # the call finally answered
        _llm({**LLM, A.GEN_AI_REQUEST_MODEL: "unknown-model", A.RETRY_ATTEMPT: 1})  # a retry, unpriced
    run = captured.one("invoke_workflow book").attributes
    assert run[A.ROLLUP_LLM_CALLS] == 1 and run[A.ROLLUP_ERRORS] == 2
    # The unpriced retry's money is unknown: it is counted as unpriced (as the store does), never as $0.
    assert run[A.ROLLUP_UNPRICED_CALLS] == 1
    assert run[A.ROLLUP_INPUT_TOKENS] == 4 * 1234  # every attempt's tokens, as reported, still count


def test_rollup_add_covers_every_field() -> None:
    names = [f.name for f in fields(Totals)]
    total = Totals(**{name: 1 for name in names})
    total.add(Totals(**{name: 2 for name in names}))
    assert all(getattr(total, name) == 3 for name in names)


def test_rollup_attribute_names_are_the_declared_constants() -> None:
    declared = {v for k, v in vars(A).items() if k.startswith("ROLLUP_") and k != "ROLLUP_PREFIX"}
    assert set(Totals().attributes()) == declared


def test_markers_at_start_and_on_heartbeat(captured: Captured) -> None:
    with agent_run("book", project="books", trigger="schedule") as run:
        captured.wrapper.heartbeat_now()
        captured.wrapper.heartbeat_now()
    captured.wrapper.heartbeat_now()  # the run has ended: no more heartbeats
    markers = captured.markers()
    assert [m.attributes[A.MARKER] for m in markers] == ["run.start", "run.heartbeat", "run.heartbeat"]
    run_ctx = run.get_span_context()
    for marker in markers:
        assert marker.parent.span_id == run_ctx.span_id and marker.context.trace_id == run_ctx.trace_id
        assert marker.start_time == marker.end_time
        assert marker.attributes[A.RUN_NAME] == "invoke_workflow book"
        assert marker.attributes[A.PROJECT] == "books" and marker.attributes[A.TRIGGER_TYPE] == "schedule"
        assert marker.attributes[A.RUN_START_TIME] == run.start_time


def test_heartbeat_thread_sends_markers_while_the_run_is_open() -> None:
    cap = install(Settings(heartbeat_interval_s=0.05))
    try:
        with agent_run("slow"):
            for _ in range(200):  # bounded wait for the background thread
                if any(m.attributes[A.MARKER] == "run.heartbeat" for m in cap.markers()):
                    break
                cap.wrapper._markers._wake.wait(0.01)  # type: ignore[union-attr]
        assert any(m.attributes[A.MARKER] == "run.heartbeat" for m in cap.markers())
    finally:
        cap.provider.shutdown()
    assert not cap.wrapper._markers._thread.is_alive()  # type: ignore[union-attr]


def test_failing_downstream_processor_is_contained_and_counted(captured: Captured) -> None:
    recording = Recording()
    captured.wrapper.add_downstream(Exploding())
    captured.wrapper.add_downstream(recording)
    before = guard.failure_counts()
    guard.reraise_in_tests(False)
    try:
        with agent_run("wf"):
            _llm()
    finally:
        guard.reraise_in_tests(None)
    after = guard.failure_counts()
    assert after.get("processor Exploding.on_end", 0) - before.get("processor Exploding.on_end", 0) >= 2
    assert after.get("processor Exploding.on_start", 0) > before.get("processor Exploding.on_start", 0)
    assert {s.name for s in recording.ended} >= {"chat gpt-4o", "invoke_workflow wf"}


def test_failing_processor_reraises_under_pytest_by_default(captured: Captured) -> None:
    captured.wrapper.add_downstream(Exploding())
    with pytest.raises(RuntimeError, match="downstream start bug"):
        _llm()


def test_enrichment_failure_fails_open(captured: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise ZeroDivisionError("pricing bug")

    monkeypatch.setattr(captured.wrapper.prices, "price", broken)
    guard.reraise_in_tests(False)
    try:
        _llm()
    finally:
        guard.reraise_in_tests(None)
    span = captured.one("chat gpt-4o")  # the span still went on
    assert "ZeroDivisionError" in span.attributes[A.ENRICHMENT_ERROR]
    assert span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234


def test_inherited_values_respect_a_configured_value_length_limit() -> None:
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_agent.processors.enriching import EnrichingSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_attribute_length=4))
    provider.add_span_processor(EnrichingSpanProcessor([SimpleSpanProcessor(exporter)], Settings()))
    tracer = provider.get_tracer("t")
    run_attrs = {A.RUN: True, A.PROJECT: "bookshop"}
    with tracer.start_as_current_span("run", attributes=run_attrs), tracer.start_as_current_span("child"):
        pass
    child = next(s for s in exporter.get_finished_spans() if s.name == "child")
    assert child.attributes[A.PROJECT] == "book"  # set through the SDK's API, which truncates
    provider.shutdown()


def test_a_users_own_pytest_run_never_sees_our_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.services

    assert guard._should_reraise()  # otel-agent's own suite: re-raise
    monkeypatch.setattr(tests.services, "__file__", "/srv/someone-elses-app/tests/services.py")
    assert not guard._should_reraise()
    with guard.guard("test.component"):
        raise RuntimeError("contained even under pytest")


def test_a_forked_child_does_not_heartbeat_its_parents_runs(captured: Captured) -> None:
    import os

    with agent_run("parent-run"):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its marker table must be empty
            open_runs = len(captured.wrapper._markers._open)  # type: ignore[union-attr]
            os.write(write, str(open_runs).encode())
            os._exit(0)
        os.close(write)
        child_saw = os.read(read, 16).decode()
        os.waitpid(pid, 0)
        assert len(captured.wrapper._markers._open) == 1  # type: ignore[union-attr]
    assert child_saw == "0"
