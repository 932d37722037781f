"""Every run, step, failure, token and dollar in the tables, metrics and logs under any sampler, while the
user's exporters (OTLP, ...) get exactly the sampled traces (otel_agent/sampling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)

from otel_agent import attributes as A
from otel_agent import configure, instrument
from otel_agent.context import agent_run
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.sampling import RecordUnsampledSampler
from otel_agent.settings import Settings
from otel_agent.store import models as M
from otel_agent.store.engine import make_engine
from tests.lossless_support import CALL
from tests.otel_capture import reset_global_tracer_provider
from tests.test_instrument import _OtlpReceiver, otlp_port  # noqa: F401  (the receiver fixture)
from tests.test_metrics_instrument import _metric_points, _objects

RUNS = 30

APP = """
    from opentelemetry import trace
    from otel_agent.context import agent_run, tool

    for i in range(30):
        with agent_run("book", project="books", stage="draft"):
            with trace.get_tracer("app").start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000 + i,
                "gen_ai.usage.output_tokens": 100}):
                pass
            try:
                with tool("search"):
                    raise KeyError("no such page")
            except KeyError:
                pass
    print("APP DONE", flush=True)
"""


def _rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = make_engine(url, for_writing=False)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table.name):
                return []
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    finally:
        engine.dispose()


def _otlp_spans() -> list[Any]:
    return [
        span
        for request in _OtlpReceiver.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def _instrumented_app(tmp_path: Path, port: int, **env: str) -> tuple[str, list[dict[str, Any]]]:
    """Run APP under opentelemetry-instrument; the database URL and what the console printed."""
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    url = f"sqlite:///{tmp_path}/runs.db"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    full = {**clean, "OTEL_TRACES_EXPORTER": "otlp,otel_agent_sql", "OTEL_METRICS_EXPORTER": "console",
            "OTEL_LOGS_EXPORTER": "console", "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
            "OTEL_AGENT_DATABASE_URL": url, "OTEL_AGENT_SPOOL_DIR": str(tmp_path / "spool"),
            "OTEL_AGENT_HEARTBEAT_INTERVAL": "0", "OTEL_SERVICE_NAME": "book-app", **env}  # fmt: skip
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run([str(instrument), sys.executable, "app.py"], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0 and "APP DONE" in done.stdout, done.stderr[-3000:]
    return url, _objects(done.stdout)


def _sampled_by(sampler: Sampler, trace_ids: Sequence[str]) -> set[str]:
    return {t for t in trace_ids if sampler.should_sample(None, int(t, 16), "x").decision.is_sampled()}


@pytest.mark.parametrize(
    ("name", "arg", "sampler"),
    [
        ("traceidratio", "0.5", TraceIdRatioBased(0.5)),
        ("parentbased_traceidratio", "0.01", TraceIdRatioBased(0.01)),  # the case measured in issue 12
        ("always_off", "", ALWAYS_OFF),
    ],
)
def test_zero_code_every_run_is_stored_and_only_sampled_traces_reach_otlp(
    tmp_path: Path,
    otlp_port: int,  # noqa: F811  (the fixture imported above)
    name: str,
    arg: str,
    sampler: Sampler,  # noqa: F811
) -> None:
    url, printed = _instrumented_app(
        tmp_path, otlp_port, OTEL_TRACES_SAMPLER=name, OTEL_TRACES_SAMPLER_ARG=arg
    )
    runs, steps, failures = (_rows(url, t) for t in (M.runs, M.steps, M.failures))
    assert len(runs) == RUNS and {r["status"] for r in runs} == {"succeeded"}  # the tool error was caught
    calls = [s for s in steps if s["kind"] == "llm"]
    assert sorted(s["input_tokens"] for s in calls) == [1000 + i for i in range(RUNS)]
    assert all(s["cost_usd"] > 0 for s in calls) and sum(r["llm_calls"] for r in runs) == RUNS
    assert len(failures) == RUNS and {f["error_category"] for f in failures} == {"tool_error"}

    # Metrics and logs count every run too.
    cost = sum(p["value"] for p in _metric_points(printed, "otel_agent.cost.usd"))
    assert cost == pytest.approx(sum(r["cost_usd"] for r in runs)) and cost > 0
    assert sum(p["value"] for p in _metric_points(printed, "otel_agent.runs.finished")) == RUNS
    events = [o.get("event_name") or (o.get("attributes") or {}).get(A.EVENT_NAME) for o in printed]
    finished = [e for e in events if e == "otel_agent.run.finished"]
    assert len(finished) == RUNS

    # OTLP: exactly the traces the sampler chose, none of the ones only otel-agent recorded.
    expected = _sampled_by(sampler, [r["trace_id"] for r in runs])
    received = _otlp_spans()
    assert {s.trace_id.hex() for s in received} == expected
    assert not any(kv.key == A.TRACE_UNSAMPLED for s in received for kv in s.attributes)
    if name == "traceidratio":
        assert 0 < len(expected) < RUNS  # both kinds of trace were really there


class Recording(SpanProcessor):
    """A user's own processor: what it was shown."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(span.name)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class KeepNamed(Sampler):
    """A user's sampler in code: samples roots named ``keep``, records ``watch`` without sampling it."""

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, *args: Any, **kw: Any
    ) -> SamplingResult:
        attributes = args[1] if len(args) > 1 else kw.get("attributes")
        if "keep" in name:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        if "watch" in name:
            return SamplingResult(Decision.RECORD_ONLY, attributes)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "KeepNamed"


def _runs_named(names: Sequence[str]) -> None:
    tracer = trace.get_tracer("app")
    for name in names:
        with agent_run(name, project="books"), tracer.start_as_current_span("chat gpt-4o", attributes=CALL):
            pass


NAMES = ["keep", "drop", "watch", "drop", "keep", "drop"]


def _what_the_user_sees(how: str, tmp_path: Path) -> tuple[Recording, InMemorySpanExporter]:
    """The user's processor and exporter under a user's sampler: without otel-agent, or with it set up
    through configure() or through instrument() on the provider the user built."""
    reset_global_tracer_provider()
    provider = TracerProvider(sampler=ParentBased(KeepNamed()))
    mine, exported = Recording(), InMemorySpanExporter()
    sql = SqlSpanExporter(f"sqlite:///{tmp_path}/{how}.db", spool_dir=tmp_path / "spool")
    settings = Settings(heartbeat_interval_s=0, markers=False)
    if how == "configure":
        configure(tracer_provider=provider, processors=[mine], exporters=[exported, sql], settings=settings)
    else:
        for processor in (mine, SimpleSpanProcessor(exported)):
            provider.add_span_processor(processor)
        if how == "instrument":
            provider.add_span_processor(BatchSpanProcessor(sql))
            instrument(provider, settings)
    trace.set_tracer_provider(provider)
    _runs_named(NAMES)
    provider.force_flush()
    provider.shutdown()
    return mine, exported


@pytest.mark.parametrize("how", ["configure", "instrument"])
def test_a_users_sampler_shows_the_user_exactly_what_it_would_see(how: str, tmp_path: Path) -> None:
    mine_without, exported_without = _what_the_user_sees("without", tmp_path)
    mine, exported = _what_the_user_sees(how, tmp_path)

    def names(spans: Sequence[ReadableSpan]) -> list[str]:
        return sorted(s.name for s in spans)

    assert sorted(mine.started) == sorted(mine_without.started)
    assert names(mine.ended) == names(mine_without.ended)  # "watch" included: the user's RECORD_ONLY
    assert names(exported.get_finished_spans()) == names(exported_without.get_finished_spans())
    assert {s.name for s in exported.get_finished_spans()} == {"invoke_workflow keep", "chat gpt-4o"}
    runs = _rows(f"sqlite:///{tmp_path}/{how}.db", M.runs)
    assert sorted(r["name"] for r in runs) == sorted(f"invoke_workflow {n}" for n in NAMES)
    assert sum(r["llm_calls"] for r in runs) == len(NAMES)


def test_a_tracer_made_before_instrument_follows_the_wrapped_sampler(tmp_path: Path) -> None:
    reset_global_tracer_provider()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    early = provider.get_tracer("early")
    sql = SqlSpanExporter(f"sqlite:///{tmp_path}/runs.db", spool_dir=tmp_path / "spool")
    configure(tracer_provider=provider, exporters=[sql], settings=Settings(heartbeat_interval_s=0))
    assert isinstance(provider.sampler, RecordUnsampledSampler)
    trace.set_tracer_provider(provider)
    carrier: dict[str, str] = {}
    with (
        agent_run("early", project="books"),
        early.start_as_current_span("chat gpt-4o", attributes=CALL) as span,
    ):
        propagate.inject(carrier)
        assert span.is_recording() and not span.get_span_context().trace_flags.sampled
    provider.shutdown()
    flags = int(carrier["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # downstream services still see "not sampled" (bit 1 is W3C's random flag)
    (run,) = _rows(f"sqlite:///{tmp_path}/runs.db", M.runs)
    assert run["llm_calls"] == 1 and run["cost_usd"] > 0


def test_record_unsampled_off_keeps_the_plain_sampler(tmp_path: Path) -> None:
    reset_global_tracer_provider()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    sql = SqlSpanExporter(f"sqlite:///{tmp_path}/runs.db", spool_dir=tmp_path / "spool")
    settings = Settings(heartbeat_interval_s=0, extra={"OTEL_AGENT_RECORD_UNSAMPLED": "false"})
    configure(tracer_provider=provider, exporters=[sql], settings=settings)
    trace.set_tracer_provider(provider)
    _runs_named(["keep"])
    provider.shutdown()
    assert provider.sampler is ALWAYS_OFF
    assert _rows(f"sqlite:///{tmp_path}/runs.db", M.runs) == []
