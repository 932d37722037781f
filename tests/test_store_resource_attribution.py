"""Attribution from resource attributes: the span's own attribute wins, the resource's is the fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

from otel_agent import attributes as A
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.record import SpanRecord
from otel_agent.settings import Settings
from otel_agent.store import Materialiser, make_engine, upgrade
from otel_agent.store import models as M

T0 = 1_700_000_000_000_000_000
RESOURCE = {
    A.SERVICE_NAME: "writer-svc",
    A.WORKSPACE: "acme",
    A.PROJECT: "books",
    A.STAGE: "draft",
    A.USER_ID: "u-res",
    A.TRIGGER_TYPE: "schedule",
}


def _rows(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def _record(span_id: str, parent: str | None, attrs: dict[str, Any], status: str = "UNSET") -> SpanRecord:
    return SpanRecord(
        trace_id="a" * 32, span_id=span_id, parent_span_id=parent, name=span_id, kind="INTERNAL",
        start_time_unix_nano=T0, end_time_unix_nano=T0 + 10**9, attributes=attrs,
        resource_attributes=RESOURCE, status_code=status,
    )  # fmt: skip


def test_a_record_with_only_resource_attribution(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    upgrade(engine)
    run = _record("1" * 16, None, {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT})
    call = _record("2" * 16, "1" * 16, {A.GEN_AI_OPERATION_NAME: A.OP_CHAT}, status="ERROR")
    Materialiser(engine).write([run, call])
    (run_row,) = _rows(engine, M.runs)
    (step,) = _rows(engine, M.steps)
    (failure,) = _rows(engine, M.failures)
    assert (run_row["workspace"], run_row["project"], run_row["stage"]) == ("acme", "books", "draft")
    assert (run_row["user_id"], run_row["trigger_type"]) == ("u-res", "schedule")
    assert (step["project"], step["stage"], step["user_id"]) == ("books", "draft", "u-res")
    assert (failure["project"], failure["user_id"]) == ("books", "u-res")
    engine.dispose()


def test_the_span_attribute_wins_over_the_resource(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    upgrade(engine)
    own = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.WORKSPACE: "globex", A.PROJECT: "news"}
    call = {A.GEN_AI_OPERATION_NAME: A.OP_CHAT, A.STAGE: "edit"}
    Materialiser(engine).write([_record("1" * 16, None, own), _record("2" * 16, "1" * 16, call)])
    (run_row,) = _rows(engine, M.runs)
    (step,) = _rows(engine, M.steps)
    assert (run_row["workspace"], run_row["project"], run_row["stage"]) == ("globex", "news", "draft")
    assert (step["project"], step["stage"]) == ("books", "edit")
    engine.dispose()


def test_the_sql_exporter_reads_workspace_from_the_resource(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    provider = TracerProvider(resource=Resource.create({A.WORKSPACE: "acme", A.PROJECT: "books"}))
    sql = SqlSpanExporter(url, spool_dir=tmp_path / "spool", settings=Settings())
    provider.add_span_processor(SimpleSpanProcessor(sql))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span(
            "invoke_agent writer", attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent"}
        ),
        tracer.start_as_current_span("chat", attributes={A.GEN_AI_OPERATION_NAME: A.OP_CHAT}) as call,
    ):
        call.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()
    engine = make_engine(url, for_writing=False)
    (run_row,) = _rows(engine, M.runs)
    (step,) = _rows(engine, M.steps)
    assert (run_row["workspace"], run_row["project"], step["project"]) == ("acme", "books", "books")
    engine.dispose()
