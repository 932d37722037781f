"""Shared by tests/test_lossless.py and bench/bench_lossless.py: runs made as fast as the app can, through
otel_agent.configure() into the SQL exporter, and what the store holds afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_agent import attributes as A
from otel_agent import configure
from otel_agent.context import agent_run
from otel_agent.exporters.lossless import LosslessBatchSpanProcessor
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.settings import Settings
from otel_agent.store import models as M
from otel_agent.store.engine import make_engine
from tests.otel_capture import reset_global_tracer_provider

CALLS_PER_RUN = 2
INPUT_TOKENS, OUTPUT_TOKENS = 100, 20
CALL = {
    A.GEN_AI_OPERATION_NAME: "chat",
    A.GEN_AI_PROVIDER_NAME: "openai",
    A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    A.GEN_AI_USAGE_INPUT_TOKENS: INPUT_TOKENS,
    A.GEN_AI_USAGE_OUTPUT_TOKENS: OUTPUT_TOKENS,
}


@dataclass
class Pipeline:
    provider: TracerProvider
    exporter: SqlSpanExporter
    lossless: LosslessBatchSpanProcessor


def pipeline(
    url: str,
    spool_dir: Path,
    *,
    queue: int | None = None,
    batch: int | None = None,
    max_wait_s: str = "1",
    spool_max_mb: float = 256.0,
    statement_timeout_s: float = 15.0,
) -> Pipeline:
    """A global TracerProvider whose one exporter is the SQL one, in a BatchSpanProcessor of the given
    sizes (None: the SDK's OTEL_BSP_* defaults), made lossless by configure()."""
    reset_global_tracer_provider()
    settings = Settings(
        heartbeat_interval_s=0,
        spool_dir=str(spool_dir),
        spool_max_mb=spool_max_mb,
        extra={"OTEL_AGENT_EXPORT_MAX_WAIT": max_wait_s},
    )
    exporter = SqlSpanExporter(url, settings=settings, statement_timeout_s=statement_timeout_s)
    bsp = BatchSpanProcessor(exporter, max_queue_size=queue, max_export_batch_size=batch)
    wrapper = configure(processors=[bsp], settings=settings)
    assert wrapper is not None
    (lossless,) = [p for p in wrapper.downstream if isinstance(p, LosslessBatchSpanProcessor)]
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return Pipeline(provider, exporter, lossless)


def produce_runs(count: int, tracer_name: str = "app") -> None:
    """``count`` runs in a row, each with CALLS_PER_RUN LLM-call spans, nothing else in between."""
    tracer = trace.get_tracer(tracer_name)
    for _ in range(count):
        with agent_run("bench", project="lossless"):
            for _ in range(CALLS_PER_RUN):
                with tracer.start_as_current_span("chat gpt-4o", attributes=CALL):
                    pass


@dataclass
class Stored:
    runs: int
    llm_calls: int  # LLM-call step rows
    run_llm_calls: int  # the sum of the runs' llm_calls
    input_tokens: int


def stored(url: str) -> Stored:
    engine = make_engine(url, for_writing=False)
    try:
        with engine.connect() as conn:
            runs, run_calls = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(M.runs.c.llm_calls), 0))
            ).one()
            calls, tokens = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(M.steps.c.input_tokens), 0)).where(
                    M.steps.c.kind == "llm"
                )
            ).one()
        return Stored(int(runs), int(calls), int(run_calls), int(tokens))
    finally:
        engine.dispose()
