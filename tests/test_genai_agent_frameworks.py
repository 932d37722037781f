"""Agent frameworks' own spans become runs without agent_run: the OpenAI Agents SDK and LangGraph, traced by
their OpenInference instrumentations from PyPI, calling the fake provider through the real SDKs, exported
by the SqlSpanExporter to SQLite. Each run has its steps, tokens, cost and failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import genai
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.fakeprovider import FakeProvider, Usage, replies
from otel_agent.processors import EnrichingSpanProcessor
from otel_agent.settings import Settings
from otel_agent.store.models import failures, runs, steps

pytest.importorskip("agents")
pytest.importorskip("langgraph")

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
GPT4O_COST = 0.006045


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[TracerProvider, str]]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    exporter = SqlSpanExporter(url)
    provider = TracerProvider()
    quiet = Settings(markers=False, heartbeat_interval_s=0)
    provider.add_span_processor(EnrichingSpanProcessor([SimpleSpanProcessor(exporter)], settings=quiet))
    genai.instrument(tracer_provider=provider)  # no base URLs: the fake is recognised by the requests' shape
    try:
        yield provider, url
    finally:
        genai.uninstrument()
        provider.shutdown()


def rows(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = tuple(
            [dict(row._mapping) for row in conn.execute(sa.select(table))]
            for table in (runs, steps, failures)
        )
    engine.dispose()
    return found  # type: ignore[return-value]


def test_openai_agents_sdk_agent_is_a_run(fake: FakeProvider, pipeline: tuple[TracerProvider, str]) -> None:
    from agents import Agent, Runner, set_default_openai_client
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    provider, url = pipeline
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    try:
        set_default_openai_client(AsyncOpenAI(base_url=fake.url + "/v1", api_key="k", max_retries=0), False)
        result = Runner.run_sync(Agent(name="writer", instructions="be brief", model="gpt-4o"), "hi")
        assert result.final_output == replies.TEXT
        fake.script(replies.openai_error("server"))
        with pytest.raises(Exception, match="500|Internal"):
            Runner.run_sync(Agent(name="reviewer", instructions="be brief", model="gpt-4o"), "hi")
    finally:
        OpenAIAgentsInstrumentor().uninstrument()
    provider.force_flush()
    run_rows, step_rows, failure_rows = rows(url)
    top = [r for r in run_rows if r["parent_run_id"] is None]
    assert len(top) == 2, [(r["name"], r["status"]) for r in run_rows]  # each Runner.run: a run
    agents = {r["name"]: r for r in run_rows if r["parent_run_id"] is not None}  # each agent: a run inside
    assert agents["writer"]["status"] == "succeeded"
    assert agents["reviewer"]["status"] == "failed"  # the SDK marks the agent failed, not its workflow
    llm = [s for s in step_rows if s["kind"] == "llm" and s["run_id"] == agents["writer"]["run_id"]]
    assert len(llm) == 1  # one LLM call: our capture enriched OpenInference's own LLM span, no second one
    assert (llm[0]["input_tokens"], llm[0]["output_tokens"]) == (1234, 321)
    assert llm[0]["cost_usd"] == pytest.approx(GPT4O_COST, rel=1e-6)
    assert any(f["run_id"] == agents["reviewer"]["run_id"] for f in failure_rows)


class State(TypedDict):
    text: str


def test_langgraph_graph_is_a_run(fake: FakeProvider, pipeline: tuple[TracerProvider, str]) -> None:
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, StateGraph
    from openinference.instrumentation.langchain import LangChainInstrumentor

    provider, url = pipeline
    LangChainInstrumentor().instrument(tracer_provider=provider)
    try:
        llm = ChatOpenAI(model="gpt-4o", base_url=fake.url + "/v1", api_key="k", max_retries=0)  # type: ignore[arg-type]

        def write(state: State) -> dict[str, str]:
            return {"text": str(llm.invoke(state["text"]).content)}

        def review(state: State) -> dict[str, str]:
            return {"text": str(llm.invoke("review " + state["text"]).content)}

        def publish(state: State) -> dict[str, str]:
            raise RuntimeError("the publisher is down")

        graph = StateGraph(State)
        graph.add_node("write", write)
        graph.add_node("review", review)
        graph.add_edge(START, "write")
        graph.add_edge("write", "review")
        graph.add_edge("review", END)
        assert graph.compile().invoke({"text": "hi"})["text"] == replies.TEXT
        failing = StateGraph(State)
        failing.add_node("publish", publish)
        failing.add_edge(START, "publish")
        failing.add_edge("publish", END)
        with pytest.raises(RuntimeError):
            failing.compile().invoke({"text": "hi"})
    finally:
        LangChainInstrumentor().uninstrument()
    provider.force_flush()
    run_rows, step_rows, failure_rows = rows(url)
    assert sorted(r["status"] for r in run_rows) == ["failed", "succeeded"], run_rows
    ok = next(r for r in run_rows if r["status"] == "succeeded")
    mine = [s for s in step_rows if s["run_id"] == ok["run_id"]]
    assert {"write", "review"} <= {s["name"] for s in mine}
    llm = [s for s in mine if s["kind"] == "llm"]
    assert len(llm) == 2 and all(s["input_tokens"] == 1234 for s in llm)
    assert sum(s["cost_usd"] for s in llm) == pytest.approx(2 * GPT4O_COST, rel=1e-6)
    failed = next(r for r in run_rows if r["status"] == "failed")
    assert any(f["run_id"] == failed["run_id"] for f in failure_rows)
