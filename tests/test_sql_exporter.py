"""SqlSpanExporter with the real SDK: rows from spans, the entry point, outages, spool, shutdown."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import StatusCode

from otel_agent import attributes as A
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.metrics.pipeline import dropped_totals
from otel_agent.settings import Settings
from otel_agent.store import make_engine
from otel_agent.store import models as M
from tests.services import _as_postgres_user, _pg_bin, free_port, missing


def rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = make_engine(url, for_writing=False)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    finally:
        engine.dispose()


def exporter(url: str, spool: Path, **settings: Any) -> SqlSpanExporter:
    return SqlSpanExporter(url, spool_dir=spool, settings=Settings(**settings))


def make_spans(provider: TracerProvider, fail: bool = False) -> None:
    tracer = provider.get_tracer("test")
    run_attrs = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.PROJECT: "books", A.STAGE: "draft"}
    with (
        tracer.start_as_current_span("invoke_agent writer", attributes=run_attrs),
        tracer.start_as_current_span("chat gpt-4o") as call,
    ):
        call.set_attributes(
            {
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                A.GEN_AI_USAGE_INPUT_TOKENS: 12,
                A.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
                A.COST_USD: 0.25,
            }
        )
        if fail:
            call.record_exception(TimeoutError("provider timed out"))
            call.set_status(StatusCode.ERROR, "provider timed out")


def test_spans_from_the_sdk_become_runs_steps_and_failures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter(url, tmp_path / "spool")))
    make_spans(provider, fail=True)
    provider.shutdown()
    (run,) = rows(url, M.runs)
    (step,) = rows(url, M.steps)
    (failure,) = rows(url, M.failures)
    assert (run["status"], run["project"], run["input_tokens"], run["cost_usd"]) == (
        "succeeded",
        "books",
        12,
        0.25,
    )
    assert (step["run_id"], step["kind"], step["status"]) == (run["run_id"], "llm", "error")
    assert (failure["exception_type"], failure["message"]) == ("TimeoutError", "provider timed out")


def test_export_never_raises_and_keeps_the_good_spans(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    sql = exporter(url, tmp_path / "spool")
    provider = TracerProvider()
    captured: list[ReadableSpan] = []
    provider.add_span_processor(SimpleSpanProcessor(_Capture(captured)))
    make_spans(provider)
    broken = ReadableSpan(name="no context", context=None)
    before = dropped_totals().get("sql_exporter", 0)
    assert sql.export([broken, *captured]) == SpanExportResult.SUCCESS
    assert len(rows(url, M.steps)) == 1 and sql.rejected == 1
    assert dropped_totals().get("sql_exporter", 0) == before + 1
    sql.shutdown()
    assert sql.export(captured) == SpanExportResult.FAILURE  # after shutdown: refused, not raised


class _Capture(SqlSpanExporter):
    def __init__(self, into: list[ReadableSpan]) -> None:  # noqa: D107 - a capturing stand-in
        self.into = into

    def export(self, spans: Any) -> SpanExportResult:
        self.into.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_database_down_spools_then_replays_on_recovery(tmp_path: Path) -> None:
    blocker = tmp_path / "db"  # a file where the database's directory must go: SQLite cannot open it
    blocker.write_text("not a directory")
    url = f"sqlite:///{blocker}/x.db"
    sql = exporter(url, tmp_path / "spool")
    captured = _spans()
    assert sql.export(captured) == SpanExportResult.SUCCESS  # safe on disk
    assert sql.spool.pending() == 1 and sql.written == 0
    blocker.unlink()
    blocker.mkdir()
    sql._backoff.succeeded()  # skip the back-off wait rather than sleep in a test
    assert sql.export([]) == SpanExportResult.SUCCESS
    assert sql.spool.pending() == 0
    assert len(rows(url, M.steps)) == 1 and rows(url, M.runs)[0]["status"] == "succeeded"


def _spans() -> list[ReadableSpan]:
    captured: list[ReadableSpan] = []
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Capture(captured)))
    make_spans(provider)
    return captured


def test_a_full_spool_drops_counts_and_stays_bounded(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    blocker.write_text("x")
    sql = exporter(f"sqlite:///{blocker}/x.db", tmp_path / "spool", spool_max_mb=0.002)  # ~2 KB
    results = [sql.export(_spans()) for _ in range(10)]
    assert SpanExportResult.FAILURE in results and results[0] == SpanExportResult.SUCCESS
    assert sql.spool.dropped_spans > 0 and sql.spool.size_bytes() <= 2098
    assert dropped_totals().get("spool", 0) >= sql.spool.dropped_spans


class RestartablePostgres:
    """A private PostgreSQL we can stop and start again on the same port: a real outage."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            missing("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.tmp = tempfile.mkdtemp(prefix="otel-agent-pg-outage-")
        os.chmod(self.tmp, 0o777)
        self.data, self.port = os.path.join(self.tmp, "data"), free_port()
        subprocess.run(
            _as_postgres_user(
                [str(self.initdb), "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(self.tmp, "log")
        cmd = [str(self.pg_ctl), "-D", self.data, "-o", opts, "-l", log, "-w", "start"]
        subprocess.run(_as_postgres_user(cmd), check=True, capture_output=True)

    def stop(self) -> None:
        cmd = [str(self.pg_ctl), "-D", self.data, "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres_user(cmd), capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def outage_postgres() -> Iterator[RestartablePostgres]:
    if os.environ.get("OTEL_AGENT_TEST_PG_URL"):
        pytest.skip("outage test needs its own server (OTEL_AGENT_TEST_PG_URL points at a shared one)")
    server = RestartablePostgres()
    try:
        yield server
    finally:
        server.remove()


def test_postgres_outage_spools_and_shutdown_flushes(
    outage_postgres: RestartablePostgres, tmp_path: Path
) -> None:
    outage_postgres.start()
    sql = exporter(outage_postgres.url, tmp_path / "spool")
    assert sql.export(_spans()) == SpanExportResult.SUCCESS and sql.written == 2
    outage_postgres.stop()
    for _ in range(3):
        assert sql.export(_spans()) == SpanExportResult.SUCCESS
    assert sql.spool.pending() == 3 and sql.written == 2
    outage_postgres.start()
    sql.shutdown()  # replays the spool before closing
    assert sql.spool.pending() == 0 and sql.written == 8
    url = outage_postgres.url.replace("postgresql://", "postgresql+psycopg://")
    assert len(rows(url, M.runs)) == 4 and len(rows(url, M.steps)) == 4


def test_the_entry_point_under_opentelemetry_instrument(tmp_path: Path) -> None:
    """OTEL_TRACES_EXPORTER=otel_agent_sql with our distro and context API, in a real process."""
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent("""
        from opentelemetry import trace
        from otel_agent import attributes as A
        from otel_agent.context import agent_run, tool

        with agent_run("book", project="books", stage="outline", user="u-1", tags={"style": "noir"}):
            with trace.get_tracer("app").start_as_current_span("chat gpt-4o") as call:
                call.set_attributes({A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_PROVIDER_NAME: "openai",
                    A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.GEN_AI_RESPONSE_MODEL: "gpt-4o",
                    A.GEN_AI_USAGE_INPUT_TOKENS: 1000, A.GEN_AI_USAGE_OUTPUT_TOKENS: 100})
            try:
                with tool("search"):
                    raise KeyError("no such page")
            except KeyError:
                pass
    """)
    )
    url = f"sqlite:///{tmp_path}/app.db"
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "otel_agent_sql",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISTRO": "otel_agent",
        "OTEL_AGENT_DATABASE_URL": url,
        "OTEL_AGENT_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_SERVICE_NAME": "book-app",
    }
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), sys.executable, str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (run,) = rows(url, M.runs)
    assert (run["status"], run["project"], run["user_id"], run["service_name"]) == (
        "succeeded",
        "books",
        "u-1",
        "book-app",
    )
    assert run["tags"] == {"style": "noir"} and run["llm_calls"] == 1 and run["tool_calls"] == 1
    assert run["cost_usd"] > 0 and run["models"] == ["gpt-4o"]
    (failure,) = rows(url, M.failures)
    assert failure["exception_type"] == "KeyError" and failure["resolved"] is True


def test_an_unusable_url_never_breaks_start_up_and_loses_nothing(tmp_path: Path) -> None:
    sql = exporter("nosuchdb://nowhere", tmp_path / "spool")
    assert sql.materialiser is None
    assert sql.export(_spans()) == SpanExportResult.SUCCESS and sql.spool.pending() == 1
    sql.shutdown()
    assert sql.spool.pending() == 1  # still on disk for a process with a working URL


def test_the_exporter_marks_silent_runs_stalled(tmp_path: Path) -> None:
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    url = f"sqlite:///{tmp_path}/x.db"
    sql = exporter(url, tmp_path / "spool", stall_after_s=60.0)
    run = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    hour_ago = time.time_ns() - 3600 * 10**9
    captured: list[ReadableSpan] = []
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Capture(captured)))
    attrs = {A.MARKER: A.MARKER_RUN_START, A.RUN_ID: f"{0xDEF:016x}", A.RUN_START_TIME: hour_ago}
    marker = provider.get_tracer("t").start_span(
        A.MARKER_SPAN_NAME,
        otel_trace.set_span_in_context(NonRecordingSpan(run)),
        attributes=attrs,
        start_time=hour_ago,
    )
    marker.end(end_time=hour_ago)
    assert sql.export(captured) == SpanExportResult.SUCCESS  # the first export also sweeps
    (row,) = rows(url, M.runs)
    assert row["status"] == "stalled"
    (failure,) = rows(url, M.failures)
    assert (failure["source"], failure["error_category"]) == ("stall", "stalled")


def test_a_slow_database_spools_instead_of_waiting(fresh_postgres_url: str, tmp_path: Path) -> None:
    sql = SqlSpanExporter(
        fresh_postgres_url, spool_dir=tmp_path / "spool", settings=Settings(), statement_timeout_s=0.5
    )
    assert sql.export(_spans()) == SpanExportResult.SUCCESS and sql.written == 2  # schema in place
    blocker = make_engine(fresh_postgres_url)
    with blocker.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("LOCK TABLE otel_steps IN ACCESS EXCLUSIVE MODE")  # every write now waits
        assert sql.export(_spans()) == SpanExportResult.SUCCESS  # given up after 0.5 s: spooled
        assert sql.spool.pending() == 1 and sql.written == 2
        conn.exec_driver_sql("ROLLBACK")
    blocker.dispose()
    sql.shutdown()  # the database answers again: the spool is replayed
    assert sql.spool.pending() == 0 and sql.written == 4
    assert len(rows(fresh_postgres_url, M.runs)) == 2
