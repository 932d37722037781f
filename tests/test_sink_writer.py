"""The bounded queue and the writer threads: all-or-nothing admission, retries, bisection, flush."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from otel_agent.record import SpanRecord
from otel_agent.sink.metrics import SinkMetrics
from otel_agent.sink.queue import SpanQueue
from otel_agent.sink.writer import WriterPool, is_transient
from tests.sink_support import counter


def rec(n: int) -> SpanRecord:
    return SpanRecord("a" * 32, f"{n:016x}", None, f"s{n}", "INTERNAL", 1, 2, "UNSET")


def recs(first: int, count: int) -> list[SpanRecord]:
    return [rec(n) for n in range(first, first + count)]


def metrics_for(queue: SpanQueue) -> SinkMetrics:
    return SinkMetrics(lambda: queue.depth, queue.capacity)


def test_queue_admits_a_request_whole_or_not_at_all() -> None:
    queue = SpanQueue(capacity=5)
    assert queue.offer(recs(0, 3))
    assert not queue.offer(recs(3, 3))  # would make 6 > 5: refused, nothing of it kept
    assert queue.depth == 3
    assert queue.offer(recs(3, 2))
    assert [r.span_id for r in queue.take(10, 0)] == [f"{n:016x}" for n in range(5)]


def test_a_request_larger_than_capacity_still_fits_an_empty_queue() -> None:
    queue = SpanQueue(capacity=2)
    assert queue.offer(recs(0, 5))
    assert not queue.offer(recs(5, 1))


def test_take_splits_chunks_in_order_and_close_stops_intake() -> None:
    queue = SpanQueue(capacity=100)
    queue.offer(recs(0, 4))
    queue.offer(recs(4, 4))
    assert [r.name for r in queue.take(3, 0)] == ["s0", "s1", "s2"]
    assert [r.name for r in queue.take(3, 0)] == ["s3", "s4", "s5"]
    queue.close()
    assert not queue.offer(recs(8, 1))
    assert not queue.drained()
    assert [r.name for r in queue.take(3, 0)] == ["s6", "s7"]
    assert queue.drained() and queue.take(3, 0) == []


def test_take_lingers_for_a_fuller_batch_but_not_past_max() -> None:
    queue = SpanQueue(capacity=100)
    queue.offer(recs(0, 3))
    assert len(queue.take(10, 1, linger_s=0)) == 3  # no linger: what is there
    queue.offer(recs(3, 3))
    later = threading.Timer(0.05, lambda: queue.offer(recs(6, 7)))
    later.start()
    batch = queue.take(10, 1, linger_s=30)  # waits for the later offer, returns as soon as it is full
    assert [r.name for r in batch] == [f"s{n}" for n in range(3, 13)]
    later.join()
    queue.offer(recs(13, 20))
    assert len(queue.take(10, 1, linger_s=30)) == 10  # full at once: no waiting


class FlakyDatabase:
    """Raises OperationalError for the first ``failures`` calls, then stores what it is given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[SpanRecord] = []

    def __call__(self, batch: Sequence[SpanRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))
        self.written.extend(batch)


def test_transient_failures_are_retried_until_the_database_is_back() -> None:
    queue = SpanQueue(100)
    database = FlakyDatabase(failures=3)
    metrics = metrics_for(queue)
    pool = WriterPool(queue, database, metrics, retry_initial_s=0.001, retry_max_s=0.002)
    pool.start()
    queue.offer(recs(0, 10))
    assert pool.stop(10)
    assert len(database.written) == 10
    assert counter(metrics, "otel_agent_sink_write_retries_total") == 3
    assert counter(metrics, "otel_agent_sink_spans_written_total") == 10


def test_a_poison_span_is_isolated_and_only_it_is_dropped() -> None:
    written: list[SpanRecord] = []

    def write(batch: Sequence[SpanRecord]) -> None:
        if any(r.name == "s5" for r in batch):
            raise ValueError("cannot materialise s5")
        written.extend(batch)

    queue = SpanQueue(100)
    metrics = metrics_for(queue)
    pool = WriterPool(queue, write, metrics, batch_size=100)
    pool.start()
    queue.offer(recs(0, 16))
    assert pool.stop(10)  # dropped poison is not "lost to shutdown"
    assert sorted(r.name for r in written) == sorted(f"s{n}" for n in range(16) if n != 5)
    assert counter(metrics, "otel_agent_sink_spans_dropped_total") == 1


def test_shutdown_with_the_database_down_counts_what_it_could_not_write() -> None:
    queue = SpanQueue(100)
    database = FlakyDatabase(failures=10**9)
    pool = WriterPool(queue, database, metrics_for(queue), batch_size=4, retry_initial_s=0.01)
    pool.start()
    queue.offer(recs(0, 10))
    assert not pool.stop(0.2)
    assert pool.lost == 10 and database.written == []


def test_writers_report_unhealthy_while_a_write_keeps_failing() -> None:
    queue = SpanQueue(100)
    failing = threading.Event()

    def write(batch: Sequence[SpanRecord]) -> None:
        failing.set()
        raise ConnectionError("down")

    pool = WriterPool(queue, write, metrics_for(queue), retry_initial_s=0.01)
    pool.start()
    assert pool.healthy
    queue.offer(recs(0, 1))
    assert failing.wait(5)
    assert not pool.healthy
    pool.stop(0.1)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (sa.exc.OperationalError("x", {}, Exception("down")), True),
        (sa.exc.InterfaceError("x", {}, Exception("closed")), True),
        (ConnectionResetError(), True),
        (sa.exc.IntegrityError("x", {}, Exception("dup")), False),
        (ValueError("bad"), False),
    ],
)
def test_transient_classification(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient
