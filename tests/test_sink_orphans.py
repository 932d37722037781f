"""Spans of no agent run stay out of the step table (by default), and the orphan sweep is ordered and
bounded: spans whose parents never come cannot hold back a late orphan that can be linked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agent import attributes as A
from otel_agent.record import SpanRecord
from otel_agent.sink.service import SinkService
from otel_agent.store import Materialiser, links, make_engine
from otel_agent.store import models as M
from tests.sink_support import counter, sink_settings, wait_until

T0 = 1_700_000_000_000_000_000


def mixed_traffic() -> list:  # type: ignore[type-arg]
    """A service's plain spans (like telemetrygen's) and one agent run with a plain HTTP child."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({A.SERVICE_NAME: "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    for n in range(5):
        with tracer.start_as_current_span(f"GET /health {n}"), tracer.start_as_current_span("SELECT 1"):
            pass
    run = {A.GEN_AI_OPERATION_NAME: "invoke_agent"}
    with tracer.start_as_current_span("invoke_agent w", attributes=run), tracer.start_as_current_span("POST"):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def counts(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = tuple(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0)
                      for t in (M.runs, M.steps))  # fmt: skip
    engine.dispose()
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("keep", [False, True])
def test_spans_of_no_agent_run_are_skipped_unless_asked_for(tmp_path: Path, keep: bool) -> None:
    url = f"sqlite:///{tmp_path}/sink.db"
    settings = replace(sink_settings(sink_database_url=url), sink_keep_non_agent_spans=keep)
    sink = SinkService.with_store(settings)
    sink.start()
    try:
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{sink.grpc_port}", insecure=True)
        assert exporter.export(mixed_traffic()) == SpanExportResult.SUCCESS
        exporter.shutdown()
        total = 12

        def done() -> float:
            metrics = sink.metrics
            written = counter(metrics, "otel_agent_sink_spans_written_total")
            return written + counter(metrics, "otel_agent_sink_spans_skipped_total")

        assert wait_until(lambda: done() == total)
        skipped = counter(sink.metrics, "otel_agent_sink_spans_skipped_total")
    finally:
        assert sink.stop()
    runs, steps = counts(url)
    assert runs == 1
    assert (steps, skipped) == ((11, 0) if keep else (1, 10))  # the run's plain child is kept either way


def orphan(n: int, parent: str, start: int) -> SpanRecord:
    return SpanRecord(
        trace_id=f"{n + 1:032x}", span_id=f"{n + 1:016x}", parent_span_id=parent, name=f"orphan {n}",
        kind="INTERNAL", start_time_unix_nano=start, end_time_unix_nano=start + 1, status_code="UNSET",
        attributes={}, resource_attributes={},
    )  # fmt: skip


def test_sweep_links_a_late_orphan_behind_many_that_never_link(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """1,000 older orphans whose parents never arrive, a sweep bound of 100: the late orphan whose run
    was committed by another process is still linked by the next sweep."""
    materialiser = Materialiser(make_engine(f"sqlite:///{tmp_path}/store.db"))
    never = [orphan(n, f"{0xA000_0000 + n:016x}", T0 + n) for n in range(1_000)]
    materialiser.write(never)
    run = replace(orphan(5_000, None, T0 + 2_000_000), attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent"})
    late = replace(orphan(5_001, run.span_id, T0 + 2_000_001), trace_id=run.trace_id)
    materialiser.write([run, late])
    with materialiser.engine.begin() as conn:  # what a race with another sink leaves: a committed run,
        conn.execute(M.steps.update().where(M.steps.c.span_id == late.span_id).values(run_id=None))  # and
    monkeypatch.setattr(links, "SWEEP_ORPHAN_PARENTS", 100)  # an orphan under it that nobody linked
    materialiser.sweep(rollup=False)
    with materialiser.engine.connect() as conn:
        linked = conn.execute(sa.select(M.steps.c.run_id).where(M.steps.c.span_id == late.span_id)).scalar()
    materialiser.engine.dispose()
    assert linked == run.span_id
