"""A bounded, thread-safe queue of SpanRecords between the receivers and the writer threads.

A request's spans are admitted all together or not at all, so a full queue never loses part of a
request: the receiver answers "retry later" and the client resends the whole request. A request larger
than the whole capacity is still admitted into an empty queue, so it can never be refused forever; the
queue is therefore bounded by capacity plus one request (itself bounded by the request-size limit).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from otel_agent.record import SpanRecord


class SpanQueue:
    """Bounded FIFO of span batches; ``offer`` never blocks, ``take`` waits up to a timeout."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._chunks: deque[Sequence[SpanRecord]] = deque()
        self._depth = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, records: Sequence[SpanRecord]) -> bool:
        """Admit every record or none; False when full or closed (the caller asks for a retry)."""
        if not records:
            return not self._closed
        with self._cond:
            if self._closed:
                return False
            if self._depth and self._depth + len(records) > self.capacity:
                return False
            self._chunks.append(records)
            self._depth += len(records)
            self._cond.notify()
            return True

    def take(self, max_records: int, timeout_s: float, linger_s: float = 0.0) -> list[SpanRecord]:
        """Up to ``max_records`` records, waiting up to ``timeout_s`` for the first and then up to
        ``linger_s`` more for the batch to fill (fewer, larger transactions); [] if none came."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._chunks:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return []
                self._cond.wait(remaining)
            batch = self._pop(max_records)
            fill_deadline = time.monotonic() + linger_s
            while len(batch) < max_records and not self._closed:
                if self._chunks:
                    batch.extend(self._pop(max_records - len(batch)))
                    continue
                remaining = fill_deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return batch

    def _pop(self, max_records: int) -> list[SpanRecord]:
        batch: list[SpanRecord] = []
        while self._chunks and len(batch) < max_records:
            chunk = self._chunks.popleft()
            room = max_records - len(batch)
            if len(chunk) > room:  # split: the rest stays at the head, order kept
                self._chunks.appendleft(chunk[room:])
                chunk = chunk[:room]
            batch.extend(chunk)
        self._depth -= len(batch)
        return batch

    def close(self) -> None:
        """Stop intake; what is queued can still be taken. Wakes every waiting taker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def drained(self) -> bool:
        """Closed and empty: a writer may exit."""
        return self._closed and not self._chunks
