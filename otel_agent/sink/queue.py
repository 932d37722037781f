"""A bounded, thread-safe queue of SpanRecords between the receivers and the writer threads.

A request's spans are admitted all together or not at all, so a full queue never loses part of a
request: the receiver answers "retry later" and the client resends the whole request. A request larger
than the whole capacity is still admitted into an empty queue, so it can never be refused forever; the
queue is therefore bounded by capacity plus one request (itself bounded by the request-size limit).

Each chunk may carry a ticket (its journal segment, journal.py); a batch taken says how many of its
records came from each ticket, so the writer can tell the journal what is now in the database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence

from otel_agent.record import SpanRecord


class Batch(list[SpanRecord]):
    """Records taken together, with how many came from each journal ticket."""

    def __init__(self) -> None:
        super().__init__()
        self.tickets: Counter[int] = Counter()


class SpanQueue:
    """Bounded FIFO of span batches; ``offer`` never blocks, ``take`` waits up to a timeout."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._chunks: deque[tuple[Sequence[SpanRecord], int | None]] = deque()
        self._depth = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def full(self) -> bool:
        """No room for another request: checked before reading or decoding one."""
        return self._depth >= self.capacity

    def offer(self, records: Sequence[SpanRecord], ticket: int | None = None) -> bool:
        """Admit every record or none; False when full or closed (the caller asks for a retry)."""
        if not records:
            return not self._closed
        with self._cond:
            if self._closed:
                return False
            if self._depth and self._depth + len(records) > self.capacity:
                return False
            self._chunks.append((records, ticket))
            self._depth += len(records)
            self._cond.notify()
            return True

    def take(self, max_records: int, timeout_s: float, linger_s: float = 0.0) -> Batch:
        """Up to ``max_records`` records, waiting up to ``timeout_s`` for the first and then up to
        ``linger_s`` more for the batch to fill (fewer, larger transactions); [] if none came."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._chunks:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return Batch()
                self._cond.wait(remaining)
            batch = self._pop(max_records)
            fill_deadline = time.monotonic() + linger_s
            while len(batch) < max_records and not self._closed:
                if self._chunks:
                    more = self._pop(max_records - len(batch))
                    batch.extend(more)
                    batch.tickets.update(more.tickets)
                    continue
                remaining = fill_deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return batch

    def _pop(self, max_records: int) -> Batch:
        batch = Batch()
        while self._chunks and len(batch) < max_records:
            chunk, ticket = self._chunks.popleft()
            room = max_records - len(batch)
            if len(chunk) > room:  # split: the rest stays at the head, order kept
                self._chunks.appendleft((chunk[room:], ticket))
                chunk = chunk[:room]
            batch.extend(chunk)
            if ticket is not None:
                batch.tickets[ticket] += len(chunk)
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
