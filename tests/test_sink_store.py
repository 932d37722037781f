"""The sink into the real store: rows in SQLite and PostgreSQL, the same rows as the SQL exporter's,
and two sinks writing one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_agent import attributes as A
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.sink.service import SinkService
from otel_agent.store import Materialiser, make_engine
from otel_agent.store import models as M
from tests.sink_support import sink_settings

VOLATILE = {"updated_at"}  # when the row was written, not what it says


def agent_run(provider: TracerProvider, project: str = "books") -> None:
    """One agent run: two LLM calls (one rate-limited) and a tool call, attributed to a project."""
    tracer = provider.get_tracer("tests")
    attribution = {A.PROJECT: project, A.STAGE: "draft", A.AGENT_ROLE: "writer"}
    with tracer.start_as_current_span(
        "invoke_agent writer", attributes={A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, **attribution}
    ):
        for n, status in enumerate((StatusCode.OK, StatusCode.ERROR)):
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
                span.set_attributes({**attribution, A.GEN_AI_OPERATION_NAME: A.OP_CHAT})
                span.set_attributes({A.GEN_AI_PROVIDER_NAME: "openai", A.GEN_AI_REQUEST_MODEL: "gpt-4o"})
                span.set_attributes({A.GEN_AI_USAGE_INPUT_TOKENS: 100 + n, A.GEN_AI_USAGE_OUTPUT_TOKENS: 10})
                if status is StatusCode.ERROR:
                    span.set_attribute(A.ERROR_TYPE, "RateLimitError")
                    span.record_exception(RuntimeError("429 slow down"))
                span.set_status(status)
        with tracer.start_as_current_span("execute_tool search") as span:
            span.set_attributes({**attribution, A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL})


def recorded_spans(runs: int = 1) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({A.SERVICE_NAME: "book-writer"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for n in range(runs):
        agent_run(provider, project=f"books-{n}")
    provider.shutdown()
    return list(memory.get_finished_spans())


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: _table_rows(conn, t) for t in (M.runs, M.steps, M.failures)}
    finally:
        engine.dispose()


def _table_rows(conn: sa.Connection, table: sa.Table) -> list[dict[str, Any]]:
    key = next(iter(table.primary_key.columns))
    found = conn.execute(sa.select(table).order_by(key)).mappings()
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in found]


def send_through_sink(url: str, spans: Sequence[ReadableSpan]) -> None:
    sink = SinkService.with_store(sink_settings(sink_database_url=url))
    sink.start()
    try:
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{sink.grpc_port}", insecure=True)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    finally:
        assert sink.stop()


def write_with_sql_exporter(url: str, spans: Sequence[ReadableSpan], spool: Path) -> None:
    exporter = SqlSpanExporter(url, spool_dir=spool)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()


def check_same_rows_as_sql_exporter(sink_url: str, exporter_url: str, tmp_path: Path) -> None:
    spans = recorded_spans()
    send_through_sink(sink_url, spans)
    write_with_sql_exporter(exporter_url, spans, tmp_path / "spool")
    via_sink, via_exporter = rows(sink_url), rows(exporter_url)
    assert len(via_sink["otel_runs"]) == 1 and len(via_sink["otel_steps"]) == 3
    assert len(via_sink["otel_failures"]) == 1
    run = via_sink["otel_runs"][0]
    assert (run["project"], run["input_tokens"], run["llm_calls"]) == ("books-0", 201, 2)
    assert via_sink == via_exporter


def test_sink_rows_in_sqlite_equal_the_sql_exporters(tmp_path: Path) -> None:
    check_same_rows_as_sql_exporter(f"sqlite:///{tmp_path}/sink.db", f"sqlite:///{tmp_path}/sql.db", tmp_path)


@pytest.mark.postgres
def test_sink_rows_in_postgres_equal_the_sql_exporters(postgres_url: str, tmp_path: Path) -> None:
    import uuid

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = postgres_url.rsplit("/", 1)[0]
    try:
        check_same_rows_as_sql_exporter(f"{base}/{names[0]}", f"{base}/{names[1]}", tmp_path)
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_two_sinks_share_one_postgres_safely(fresh_postgres_url: str) -> None:
    """Spans of the same runs split across two sinks, in any order, some sent to both: one set of rows."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = recorded_spans(runs=4)
    sinks = [SinkService.with_store(sink_settings(sink_database_url=fresh_postgres_url)) for _ in range(2)]
    for sink in sinks:
        sink.start()
    try:
        import grpc

        channels = [grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") for s in sinks]
        stubs = [TraceServiceStub(c) for c in channels]
        children_first = sorted(spans, key=lambda s: s.parent is None)
        for index, span in enumerate(children_first):
            stubs[index % 2].Export(encode_spans([span]), timeout=10)
        stubs[1].Export(encode_spans(spans[:5]), timeout=10)  # duplicates, through the other sink
        for channel in channels:
            channel.close()
    finally:
        assert all([sink.stop() for sink in sinks])
    found = rows(fresh_postgres_url)
    assert (
        len(found["otel_runs"]) == 4 and len(found["otel_steps"]) == 12 and len(found["otel_failures"]) == 4
    )
    # A step committed by one sink while the other linked its run stays an orphan until the store's
    # sweep (each sink runs it every minute) links it; run it now instead of waiting.
    engine = make_engine(fresh_postgres_url)
    Materialiser(engine).sweep()
    engine.dispose()
    found = rows(fresh_postgres_url)
    for run in found["otel_runs"]:
        assert (run["input_tokens"], run["output_tokens"], run["llm_calls"], run["tool_calls"]) == (
            201,
            20,
            2,
            1,
        )
    assert all(step["run_id"] for step in found["otel_steps"])


@pytest.mark.postgres
def test_database_outage_holds_spans_then_writes_them_all(postgres_url: str) -> None:
    """The database is missing when spans arrive: the sink accepts, retries, is not ready; once the
    database exists every span is written (the schema is created on the first successful write)."""
    import uuid

    import httpx

    from tests.sink_support import counter, wait_until

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    spans = recorded_spans(runs=2)
    sink = SinkService.with_store(sink_settings(sink_database_url=url))
    sink.start()
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{sink.grpc_port}", insecure=True)
        assert exporter.export(spans) == SpanExportResult.SUCCESS  # accepted into the queue
        exporter.shutdown()
        assert wait_until(lambda: counter(sink.metrics, "otel_agent_sink_write_retries_total") >= 1)
        assert httpx.get(f"http://127.0.0.1:{sink.http_port}/readyz", timeout=5).status_code == 503
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # the database comes back
        assert wait_until(
            lambda: counter(sink.metrics, "otel_agent_sink_spans_written_total") == len(spans), 30
        )
        assert httpx.get(f"http://127.0.0.1:{sink.http_port}/readyz", timeout=5).status_code == 200
    finally:
        assert sink.stop()
    found = rows(url)
    assert len(found["otel_runs"]) == 2 and len(found["otel_steps"]) == 6
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_non_python_agent_over_otlp_json_becomes_the_same_kind_of_rows(tmp_path: Path) -> None:
    """A TypeScript worker's run, as its OTLP/HTTP JSON exporter sends it: hex ids, enums as numbers,
    64-bit integers as strings. It becomes a run with its LLM step and tokens, like a Python run."""
    import json

    import httpx

    trace, run, chat = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b175"

    def attrs(**values: object) -> list[dict[str, object]]:
        typed = {str: "stringValue", int: "intValue"}
        return [
            {"key": k, "value": {typed[type(v)]: str(v) if isinstance(v, int) else v}}
            for k, v in values.items()
        ]

    def span(span_id: str, parent: str, name: str, kind: int, **values: object) -> dict[str, object]:
        return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
                "startTimeUnixNano": "1763000000000000000", "endTimeUnixNano": "1763000002000000000",
                "attributes": attrs(**values), "status": {"code": 1}}  # fmt: skip

    llm = {A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.PROJECT: "ts"}
    llm |= {A.GEN_AI_USAGE_INPUT_TOKENS: 1200, A.GEN_AI_USAGE_OUTPUT_TOKENS: 80}
    spans = [
        span(
            run, "", "invoke_agent planner", 1, **{A.GEN_AI_OPERATION_NAME: "invoke_agent", A.PROJECT: "ts"}
        ),
        span(chat, run, "chat gpt-4o", 3, **llm),
    ]
    resource = {"attributes": attrs(**{A.SERVICE_NAME: "ts-planner", "telemetry.sdk.language": "nodejs"})}
    body = {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "js"}, "spans": spans}]}]
    }
    url = f"sqlite:///{tmp_path}/ts.db"
    sink = SinkService.with_store(sink_settings(sink_database_url=url, sink_grpc_endpoint="none"))
    sink.start()
    try:
        response = httpx.post(
            f"http://127.0.0.1:{sink.http_port}/v1/traces",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200 and "partialSuccess" not in response.json()
    finally:
        assert sink.stop()
    found = rows(url)
    (run_row,) = found["otel_runs"]
    assert (run_row["run_id"], run_row["project"], run_row["service_name"]) == (run, "ts", "ts-planner")
    assert (run_row["input_tokens"], run_row["output_tokens"], run_row["llm_calls"]) == (1200, 80, 1)
    (step,) = found["otel_steps"]
    assert (step["span_id"], step["run_id"], step["request_model"]) == (chat, run, "gpt-4o")
