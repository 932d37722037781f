"""Captured LLM calls land in the store as step rows with tokens, cost and errors, and runs roll them up:
the real openai and anthropic SDKs -> fake provider -> capture -> processors -> SqlSpanExporter, on SQLite
and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.fakeprovider import FakeProvider, Usage, replies
from otel_agent.processors import EnrichingSpanProcessor
from otel_agent.settings import Settings
from otel_agent.store.models import failures, runs, steps

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


def run_pipeline(fake: FakeProvider, database_url: str) -> None:
    exporter = SqlSpanExporter(database_url)
    provider = TracerProvider()
    quiet = Settings(markers=False, heartbeat_interval_s=0)
    provider.add_span_processor(EnrichingSpanProcessor([SimpleSpanProcessor(exporter)], settings=quiet))
    genai.instrument(
        tracer_provider=provider,
        base_urls={fake.url + "/openai": "openai", fake.url + "/anthropic": "anthropic"},
    )
    fake.script(replies.anthropic_error("overloaded"), path_contains="/anthropic/")
    try:
        run_attrs = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW, A.PROJECT: "books"}
        with provider.get_tracer("test").start_as_current_span(
            "invoke_workflow writer", attributes=run_attrs
        ):
            oa = openai.OpenAI(base_url=fake.url + "/openai/v1", api_key="k", max_retries=0)
            for _ in oa.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            ):
                pass
            an = anthropic.Anthropic(
                base_url=fake.url + "/anthropic", api_key="k", max_retries=0, open_telemetry={"traces": False}
            )
            with pytest.raises(anthropic.APIStatusError):
                an.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=5, messages=MESSAGES)
    finally:
        genai.uninstrument()
        provider.shutdown()


def check_rows(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        llm = conn.execute(sa.select(steps).where(steps.c.kind == "llm").order_by(steps.c.started_at)).all()
        run = conn.execute(sa.select(runs)).one()
        failure = conn.execute(sa.select(failures)).one()
    engine.dispose()
    chat, failed = (row._mapping for row in llm)
    assert (chat["provider"], chat["response_model"]) == ("openai", "gpt-4o")
    assert (chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (1234, 321, 200)
    assert chat["cost_usd"] == pytest.approx(0.006045, rel=1e-6)
    assert chat["time_to_first_chunk_s"] > 0
    assert (failed["provider"], failed["status"], failed["error_category"]) == (
        "anthropic",
        "error",
        "provider_error",
    )
    assert failed["error_type"] == "overloaded_error"
    assert run._mapping["llm_calls"] == 2 and run._mapping["input_tokens"] == 1234
    assert failure._mapping["error_category"] == "provider_error"


def test_rows_in_sqlite(fake: FakeProvider, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    run_pipeline(fake, url)
    check_rows(url)


@pytest.mark.postgres
def test_rows_in_postgresql(fake: FakeProvider, fresh_postgres_url: str) -> None:
    run_pipeline(fake, fresh_postgres_url)
    check_rows(fresh_postgres_url)
