"""The on-disk spool: round trip, order, claims across processes, bounds, unreadable files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from otel_agent import attributes as A
from otel_agent.record import SpanEvent, SpanRecord
from otel_agent.spool import CLAIMED, Spool, read_dropped
from tests.test_store_traces import T0, agent_trace, span


def test_batches_round_trip_exactly_in_arrival_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**8)
    odd = span("ab" * 16, "cd" * 8, None, "bad\udc80", {A.PROJECT: "p\x00", "n": [1, 2], "b": True}, T0, T0,
               events=(SpanEvent("exception", T0, {A.EXCEPTION_TYPE: "E"}),))  # fmt: skip
    batches = [agent_trace(1), [odd], agent_trace(2)]
    for batch in batches:
        assert spool.put(batch)
    got = [records for _, records in spool.claim()]
    assert [[_comparable(r) for r in b] for b in got] == [[_comparable(r) for r in b] for b in batches]


def _comparable(record: SpanRecord) -> tuple[Any, ...]:
    # JSON has no tuples: sequences come back as lists, which OpenTelemetry accepts the same.
    attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in record.attributes.items()}
    return (record.trace_id, record.span_id, record.parent_span_id, record.name, record.status_code,
            record.start_time_unix_nano, attrs, dict(record.resource_attributes), record.events)  # fmt: skip


def test_claimed_batches_are_invisible_until_released_or_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**8)
    spool.put(agent_trace(1))
    spool.put(agent_trace(2))
    claims = spool.claim()
    first, _ = next(claims)
    assert spool.pending() == 1
    spool.release(first)
    assert spool.pending() == 2
    first, _ = next(spool.claim())
    spool.done(first)
    assert spool.pending() == 1 and not first.exists()


def test_claims_of_dead_processes_are_taken_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**8)
    spool.put(agent_trace(1))
    path = next(tmp_path.glob("*.jsonl"))
    dead_pid = 2**22 + 12345  # above pid_max on this kernel's default: never alive
    os.replace(path, path.with_name(path.name + CLAIMED + str(dead_pid)))
    assert spool.pending() == 0
    assert len(list(spool.claim())) == 1


def test_a_full_spool_drops_and_counts(tmp_path: Path) -> None:
    one = len(b"".join(p.read_bytes() for p in _put_one(tmp_path / "probe")))
    spool = Spool(tmp_path / "s", max_bytes=one * 3 + 10)
    results = [spool.put(agent_trace(1)) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert spool.dropped_spans == 2 * 22 and read_dropped(tmp_path / "s") == 2 * 22
    assert spool.size_bytes() <= spool.max_bytes


def _put_one(directory: Path) -> list[Path]:
    Spool(directory, 10**8).put(agent_trace(1))
    return list(directory.glob("*.jsonl"))


def test_an_unreadable_batch_is_set_aside_not_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10**8)
    (tmp_path / "00000000000000000001-1-000001.jsonl").write_bytes(b"{not json\n")
    spool.put(agent_trace(1))
    assert [len(records) for _, records in spool.claim()] == [22]
    assert len(list(tmp_path.glob("*.bad"))) == 1
