# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

from otel_agent import attributes as A
from otel_agent import context as ctx_api
from otel_agent import guard
from otel_agent.context import agent_run, agent_step, bind_context, current_attribution, tool
from tests.otel_capture import Captured, captured  # noqa: F401


def _child(name: str) -> None:
    with trace.get_tracer("other-instrumentation").start_as_current_span(name):
        pass


def test_spans_follow_genai_semconv(captured: Captured) -> None:
    with (
        agent_run(
            "book",
            project="books",
            user="u1",
            session="s1",
            trigger="user",
            trigger_id="u1",
            tags={"style": "noir", "chapters": 3},
        ),
        agent_step(stage="outline"),
        agent_step(agent="planner", role="planner", agent_id="a-1"),
        tool("search", call_id="c-9"),
    ):
        pass
    run = captured.one("invoke_workflow book").attributes
    assert run[A.GEN_AI_OPERATION_NAME] == A.OP_INVOKE_WORKFLOW and run[A.GEN_AI_WORKFLOW_NAME] == "book"
    assert run[A.TAG_PREFIX + "style"] == "noir" and run[A.TAG_PREFIX + "chapters"] == 3
    assert (run[A.USER_ID], run[A.SESSION_ID], run[A.TRIGGER_TYPE]) == ("u1", "s1", "user")
    agent = captured.one("invoke_agent planner").attributes
    assert agent[A.GEN_AI_OPERATION_NAME] == A.OP_INVOKE_AGENT and agent[A.GEN_AI_AGENT_ID] == "a-1"
    assert agent[A.STAGE] == "outline" and agent[A.PROJECT] == "books"
    t = captured.one("execute_tool search").attributes
    assert t[A.GEN_AI_TOOL_NAME] == "search" and t[A.GEN_AI_TOOL_CALL_ID] == "c-9"
    assert t[A.AGENT_ROLE] == "planner" and t[A.RUN_ID] == agent[A.RUN_ID]
    assert captured.one("outline").attributes[A.RUN_ID] == run[A.RUN_ID]


def test_baggage_carries_only_allow_listed_attribution(captured: Captured) -> None:
    with agent_run("wf", project="p", stage="s", tags={"secret": "x"}) as run:
        seen = current_attribution()
    assert seen[A.PROJECT] == "p" and seen[A.STAGE] == "s"
    assert seen[A.RUN_ID] == format(run.get_span_context().span_id, "016x")
    assert not any(k.startswith(A.TAG_PREFIX) for k in seen)
    assert current_attribution() == {}  # detached after the block


def test_spans_from_other_instrumentations_inherit_attribution(captured: Captured) -> None:
    with agent_run("wf", project="p"), agent_step(stage="draft"):
        _child("http GET")
    child = captured.one("http GET").attributes
    assert child[A.PROJECT] == "p" and child[A.STAGE] == "draft"
    assert child[A.RUN_ID] == captured.one("invoke_workflow wf").attributes[A.RUN_ID]


def test_attribution_crosses_threads_with_bind_context(captured: Captured) -> None:
    with agent_run("wf", project="p"), agent_step(stage="edit"), ThreadPoolExecutor(2) as pool:
        list(pool.map(bind_context(_child), ["t1", "t2"]))
    for name in ("t1", "t2"):
        attrs = captured.one(name).attributes
        assert attrs[A.PROJECT] == "p" and attrs[A.STAGE] == "edit" and A.RUN_ID in attrs


def test_attribution_crosses_asyncio_tasks(captured: Captured) -> None:
    async def chapter(n: int) -> None:
        async with agent_step(stage=f"chapter-{n}"):
            await asyncio.sleep(0)
            _child(f"call {n}")

    async def main() -> None:
        async with agent_run("wf", project="p"):
            await asyncio.gather(*(asyncio.create_task(chapter(n)) for n in range(3)))

    asyncio.run(main())
    for n in range(3):
        assert captured.one(f"call {n}").attributes[A.STAGE] == f"chapter-{n}"


def test_decorators_sync_and_async(captured: Captured) -> None:
    @agent_step(stage="outline")
    def outline(x: int) -> int:
        _child("inside outline")
        return x + 1

    @tool("fetch")
    async def fetch() -> str:
        return "ok"

    @agent_run("wf", project="p")
    def run() -> int:
        return outline(1) + len(asyncio.run(fetch()))

    assert run() == 4 and run() == 4
    assert len([s for s in captured.spans() if s.name == "invoke_workflow wf"]) == 2  # fresh span per call
    assert len([s for s in captured.spans() if s.name == "execute_tool fetch"]) == 2
    assert captured.spans()[0].attributes[A.STAGE] == "outline"


def test_nested_runs_record_parent_and_root(captured: Captured) -> None:
    with agent_run("outer") as outer, agent_run("middle") as middle, agent_step(agent="leaf") as leaf:
        pass
    ids = {s.name: s.attributes for s in captured.spans()}
    hexid = lambda s: format(s.get_span_context().span_id, "016x")  # noqa: E731
    assert ids["invoke_workflow outer"][A.RUN_ROOT_ID] == hexid(outer)
    assert A.RUN_PARENT_ID not in ids["invoke_workflow outer"]
    assert ids["invoke_workflow middle"][A.RUN_PARENT_ID] == hexid(outer)
    assert ids["invoke_agent leaf"][A.RUN_PARENT_ID] == hexid(middle)
    assert ids["invoke_agent leaf"][A.RUN_ROOT_ID] == hexid(outer)
    assert ids["invoke_agent leaf"][A.RUN_ID] == hexid(leaf)


def test_exceptions_reach_the_app_and_mark_the_run(captured: Captured) -> None:
    with pytest.raises(ValueError), agent_run("wf"):
        raise ValueError("bad outline")
    run = captured.one("invoke_workflow wf")
    assert run.status.status_code == trace.StatusCode.ERROR
    assert run.attributes[A.RUN_STATUS] == "failed" and run.attributes[A.ERROR_CATEGORY] == "validation"
    assert run.events[0].name == "exception"


def test_cancellation_is_recorded_as_cancelled(captured: Captured) -> None:
    async def main() -> None:
        async def slow() -> None:
            async with agent_run("wf"):
                await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    run = captured.one("invoke_workflow wf").attributes
    assert run[A.RUN_STATUS] == "cancelled" and run[A.ERROR_CATEGORY] == "cancelled"


def test_our_failure_never_reaches_the_app(captured: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> object:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(ctx_api, "_tracer", broken)
    guard.reraise_in_tests(False)
    try:
        with agent_run("wf") as span:
            result = "ran"
    finally:
        guard.reraise_in_tests(None)
    assert result == "ran" and not span.is_recording()
    assert guard.failure_counts()["context.enter"] >= 1


def test_agent_step_needs_something_to_name_it() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        agent_step()


def test_odd_attribution_values_are_stringified(captured: Captured) -> None:
    with agent_run("wf", project=b"\xff\xfe", user=42) as run:  # type: ignore[arg-type]
        _child("c")
    assert run.is_recording() is False
    attrs = captured.one("c").attributes
    assert attrs[A.USER_ID] == "42" and isinstance(attrs[A.PROJECT], str)
