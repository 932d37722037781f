"""Log records carry the right ids and attribution (threads, asyncio); run events are logged once."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

from otel_agent import attributes as A
from otel_agent.context import agent_run, agent_step, bind_context, tool
from otel_agent.logs import (
    JsonLineFormatter,
    RunEventLogProcessor,
    install_record_factory,
    log_run_event,
    uninstall_record_factory,
)
from otel_agent.logs.events import LOGGER_NAME
from otel_agent.logs.stamp import SPAN_ID, TRACE_ID
from tests.otel_capture import Captured, install, reset_global_tracer_provider

app_log = logging.getLogger("tests.app")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.records.append(record)

    def by_message(self, message: str) -> logging.LogRecord:
        found = [r for r in self.records if r.getMessage() == message]
        assert len(found) == 1, [r.getMessage() for r in self.records]
        return found[0]

    def events(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, A.EVENT_NAME, None) == name]


@pytest.fixture
def cap() -> Iterator[Captured]:
    captured = install()
    captured.wrapper.add_downstream(RunEventLogProcessor())
    yield captured
    captured.provider.shutdown()
    reset_global_tracer_provider()


@pytest.fixture
def logs() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level, events_level = root.level, logging.getLogger(LOGGER_NAME).level
    root.setLevel(logging.DEBUG)
    install_record_factory()
    yield handler
    uninstall_record_factory()
    root.removeHandler(handler)
    root.setLevel(old_level)
    logging.getLogger(LOGGER_NAME).setLevel(events_level)


def _ids(span: trace.Span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _stamp(record: logging.LogRecord) -> tuple[str | None, str | None]:
    return getattr(record, TRACE_ID, None), getattr(record, SPAN_ID, None)


def test_records_inside_a_run_carry_ids_and_attribution(cap: Captured, logs: Collect) -> None:
    with agent_run("book", project="books") as run, agent_step(stage="draft", role="writer") as step:
        app_log.info("drafting")
    record = logs.by_message("drafting")
    assert _stamp(record) == _ids(step)
    run_id = _ids(run)[1]
    assert getattr(record, A.RUN_ID) == run_id
    assert (getattr(record, A.PROJECT), getattr(record, A.STAGE), getattr(record, A.AGENT_ROLE)) == (
        "books", "draft", "writer")


def test_records_outside_any_span_carry_nothing(logs: Collect) -> None:
    app_log.info("idle")
    record = logs.by_message("idle")
    assert _stamp(record) == (None, None) and not hasattr(record, A.PROJECT)


def test_ids_right_in_threads(cap: Captured, logs: Collect) -> None:
    def work(i: int) -> None:
        app_log.info("thread %d", i)

    expected = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for i in range(8):
            with agent_run(f"job{i}", project=f"p{i}") as run:
                expected[i] = _ids(run)
                futures.append(pool.submit(bind_context(work), i))
        futures.append(pool.submit(work, 99))  # not bound: must not borrow another thread's run
        for f in futures:
            f.result()
    for i, ids in expected.items():
        record = logs.by_message(f"thread {i}")
        assert _stamp(record) == ids and getattr(record, A.PROJECT) == f"p{i}"
    assert _stamp(logs.by_message("thread 99")) == (None, None)


async def test_ids_right_in_interleaved_asyncio_tasks(cap: Captured, logs: Collect) -> None:
    expected = {}

    async def job(i: int) -> None:
        with agent_run(f"job{i}", project=f"p{i}") as run, agent_step(stage=f"s{i}"):
            expected[i] = _ids(run)[1]
            for n in range(3):
                await asyncio.sleep(0)  # interleave with the other tasks
                app_log.info("task %d step %d", i, n)

    await asyncio.gather(*(job(i) for i in range(5)))
    for i in range(5):
        for n in range(3):
            record = logs.by_message(f"task {i} step {n}")
            assert getattr(record, A.RUN_ID) == expected[i]
            assert (getattr(record, A.PROJECT), getattr(record, A.STAGE)) == (f"p{i}", f"s{i}")


def test_run_events_logged_once_at_the_right_level(cap: Captured, logs: Collect) -> None:
    with agent_run("book", project="books") as run, pytest.raises(RuntimeError), tool("search"):
        raise RuntimeError("index offline")
    started = logs.events("otel_agent.run.started")
    finished = logs.events("otel_agent.run.finished")
    failed_tool = logs.events("otel_agent.tool.failed")
    assert [r.levelno for r in started] == [logging.INFO]
    assert [r.levelno for r in failed_tool] == [logging.ERROR]
    assert [r.levelno for r in finished] == [logging.INFO]
    run_ids = _ids(run)
    for record in (*started, *finished):
        assert _stamp(record) == run_ids  # the record points at the run span itself
        assert getattr(record, A.PROJECT) == "books" and getattr(record, A.RUN_ID) == run_ids[1]
    assert getattr(finished[0], A.RUN_STATUS) == "succeeded"
    assert getattr(failed_tool[0], A.RUN_ID) == run_ids[1]
    assert "index offline" in failed_tool[0].getMessage()


def test_failed_run_is_an_error_and_llm_failure_and_retry_are_logged(cap: Captured, logs: Collect) -> None:
    tracer = cap.provider.get_tracer("t")
    with pytest.raises(ValueError), agent_run("book", project="books"):
        for attempt in (0, 1):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.GEN_AI_REQUEST_MODEL: "gpt-4o",
                A.RETRY_ATTEMPT: attempt,
            }) as span:
                span.set_status(trace.Status(trace.StatusCode.ERROR, "429 Too Many Requests"))
        raise ValueError("gave up")
    assert len(logs.events("otel_agent.llm.failed")) == 2
    retry = logs.events("otel_agent.llm.retry")
    assert [r.levelno for r in retry] == [logging.WARNING] and getattr(retry[0], A.RETRY_ATTEMPT) == 1
    finished = logs.events("otel_agent.run.finished")
    assert [r.levelno for r in finished] == [logging.ERROR]
    assert getattr(finished[0], A.RUN_STATUS) == "failed"


def test_a_span_seen_twice_logs_once(cap: Captured, logs: Collect) -> None:
    cap.wrapper.add_downstream(cap.wrapper.downstream[-1])  # the same processor on two paths
    with agent_run("book", project="books"):
        pass
    assert len(logs.events("otel_agent.run.finished")) == 1


def test_stalled_event_from_a_sweeper_uses_the_given_run(logs: Collect) -> None:
    trace_id, span_id = 0xABC, 0xDEF
    ctx = trace.SpanContext(trace_id, span_id, is_remote=True)
    with agent_context_baggage_noise():
        log_run_event("otel_agent.run.stalled", logging.ERROR, "run stalled: book", ctx,
                      {A.PROJECT: "books", A.RUN_ID: "0000000000000def"})
    record = logs.events("otel_agent.run.stalled")[0]
    assert _stamp(record) == (format(trace_id, "032x"), format(span_id, "016x"))
    assert getattr(record, A.PROJECT) == "books" and not hasattr(record, A.STAGE)


class agent_context_baggage_noise:
    """A caller context whose baggage must not leak into an event about another run."""

    def __enter__(self) -> None:
        from opentelemetry import baggage, context

        self._token = context.attach(baggage.set_baggage(A.STAGE, "caller-stage"))

    def __exit__(self, *exc: object) -> None:
        from opentelemetry import context

        context.detach(self._token)


def test_json_line_has_ids_attribution_and_exception(cap: Captured, logs: Collect) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    app_log.addHandler(handler)
    try:
        with agent_run("book", project="books") as run:
            try:
                raise KeyError("missing\nchapter")
            except KeyError:
                app_log.exception("failed\nbadly", extra={"chapter": 3})
    finally:
        app_log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # newlines in the message and the stack trace are escaped
    line = json.loads(lines[0])
    assert (line["trace_id"], line["span_id"]) == _ids(run)
    assert line[A.PROJECT] == "books" and line[A.RUN_ID] == _ids(run)[1]
    assert line["severity"] == "ERROR" and line["body"] == "failed\nbadly" and line["chapter"] == 3
    assert line[A.EXCEPTION_TYPE] == "KeyError" and "Traceback" in line[A.EXCEPTION_STACKTRACE]


def test_install_is_idempotent_and_adds_one_json_handler() -> None:
    from otel_agent.logs import JsonLineHandler
    from otel_agent.logs import install as install_logs
    from otel_agent.settings import Settings

    root = logging.getLogger()
    before = list(root.handlers)
    factory = logging.getLogRecordFactory()
    events_level = logging.getLogger(LOGGER_NAME).level
    try:
        install_logs(Settings(log_json=True))
        install_logs(Settings(log_json=True))
        assert sum(isinstance(h, JsonLineHandler) for h in root.handlers) == 1
        assert logging.getLogger(LOGGER_NAME).getEffectiveLevel() == logging.INFO
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
        logging.setLogRecordFactory(factory)
        logging.getLogger(LOGGER_NAME).setLevel(events_level)
