"""Acknowledged means durable: the sink's journal, a bounded disk, and SIGKILL with the database down."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import httpx
import pytest
import sqlalchemy as sa
from google.rpc import status_pb2

from otel_agent.sink.journal import JSON, PROTOBUF, Journal, JournalFull
from otel_agent.store import models as M
from tests.sink_support import GatedWriter, SinkProcess, pb_request, pb_span, running_sink, wait_until

PB = {"Content-Type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def test_journal_replays_whole_entries_and_deletes_a_segment_once_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=10_000, segment_bytes=100)
    assert journal.open() == []
    first = journal.append(b"a" * 60, PROTOBUF, spans=2)
    second = journal.append(b"b" * 60, JSON, spans=1)  # past segment_bytes: a new segment
    assert second == first + 1
    journal.done({first: 2})
    assert not (tmp_path / f"{first:012d}.otlp").exists()  # closed and written: gone
    journal.close()
    with (tmp_path / f"{second:012d}.otlp").open("ab") as segment:
        segment.write(b"\x00\x00\x00\x09torn")  # a crash in the middle of an append
    again = Journal(tmp_path, max_bytes=10_000)
    assert again.open() == [second]
    assert list(again.entries(second)) == [(JSON, b"b" * 60)]
    again.expect(second, 1)
    again.replayed(second)
    again.done({second: 1})
    assert not (tmp_path / f"{second:012d}.otlp").exists()
    again.close()


def test_a_clean_close_leaves_nothing_to_replay_once_everything_is_written(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=10_000)
    journal.open()
    written = journal.append(b"a" * 10, PROTOBUF, spans=1)
    journal.done({written: 1})
    journal.close()
    again = Journal(tmp_path, max_bytes=10_000)
    assert again.open() == []  # a clean shutdown: no stale segment replayed into the next start
    pending = again.append(b"b" * 10, PROTOBUF, spans=1)
    again.close()  # not written: kept
    assert Journal(tmp_path, max_bytes=10_000).open() == [pending]


def test_journal_refuses_past_its_bound_and_one_directory_serves_one_sink(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=100)
    journal.open()
    journal.append(b"x" * 50, PROTOBUF, spans=1)
    with pytest.raises(JournalFull, match="limit 100"):
        journal.append(b"y" * 50, PROTOBUF, spans=1)
    with pytest.raises(RuntimeError, match="in use by another sink"):
        Journal(tmp_path, max_bytes=100).open()
    journal.close()


def test_a_full_journal_refuses_with_a_retry_delay_on_both_protocols() -> None:
    writer = GatedWriter()
    writer.open.clear()  # the database hangs: nothing leaves the journal
    with running_sink(writer, sink_journal_max_mb=0.002, sink_retry_after_s=2) as sink:
        body = pb_request([pb_span(n) for n in range(1, 11)]).SerializeToString()
        url = f"http://127.0.0.1:{sink.http_port}/v1/traces"
        statuses = [httpx.post(url, content=body, headers=PB, timeout=10) for _ in range(5)]
        codes = [r.status_code for r in statuses]
        assert codes[0] == 200 and codes[-1] == 503, codes
        refused = statuses[-1]
        assert refused.headers["Retry-After"] == "2"
        assert "journal is full" in status_pb2.Status.FromString(refused.content).message
        channel = grpc.insecure_channel(f"127.0.0.1:{sink.grpc_port}")
        with channel, pytest.raises(grpc.RpcError) as error:
            channel.unary_unary(EXPORT)(body, timeout=10)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        assert "journal is full" in error.value.details()  # type: ignore[attr-defined]
        writer.open.set()


def run_spans(first: int, count: int) -> list:  # type: ignore[type-arg]
    """Spans that are agent runs, so each is a row of otel_runs."""
    spans = []
    for n in range(first, first + count):
        span = pb_span(n, trace_id=(n + 1).to_bytes(16, "big"), attributes=[])
        span.attributes.add(key="gen_ai.operation.name").value.string_value = "invoke_agent"
        spans.append(span)
    return spans


def send_acknowledged(sink: SinkProcess, total: int, per_request: int = 100) -> None:
    """Half over OTLP/HTTP, half over OTLP/gRPC; every request must be answered OK."""
    with httpx.Client(timeout=30) as client, grpc.insecure_channel(f"127.0.0.1:{sink.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT)
        for k, first in enumerate(range(1, total + 1, per_request)):
            body = pb_request(run_spans(first, per_request)).SerializeToString()
            if k % 2:
                export(body, timeout=30)  # raises unless OK
            else:
                assert client.post(f"{sink.url}/v1/traces", content=body, headers=PB).status_code == 200


@pytest.mark.postgres
def test_acknowledged_spans_survive_sigkill_while_the_database_is_down(
    postgres_url: str, tmp_path: Path
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres_url.rsplit("/", 1)[0] + "/" + name  # not created yet: every connection fails
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    sink = SinkProcess(url, tmp_path)
    try:
        send_acknowledged(sink, 5_000)
        assert httpx.get(f"{sink.url}/readyz", timeout=10).status_code == 503  # writes are failing
    finally:
        sink.kill()  # SIGKILL: no flush, no goodbye
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # the database is back
    again = SinkProcess(url, tmp_path)
    engine = sa.create_engine(url)
    try:

        def stored() -> int:
            try:
                with engine.connect() as conn:
                    return int(conn.execute(sa.select(sa.func.count()).select_from(M.runs)).scalar() or 0)
            except sa.exc.SQLAlchemyError:
                return -1  # the schema is not there yet

        assert wait_until(lambda: stored() == 5_000, 120), stored()
        segments = lambda: sorted((tmp_path / "journal").glob("*.otlp"))  # noqa: E731
        assert wait_until(lambda: len(segments()) == 1, 30)  # replayed segments deleted; the new one open
    finally:
        assert again.stop() == 0
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
