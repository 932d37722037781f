"""At start, requests the previous sink process acknowledged but had not written yet go back into the queue.

They are read from the journal's old segments, oldest first, decoded as they were on arrival, and offered
to the queue as room frees up (the writers drain it meanwhile; new requests get "retry later" while the
queue is full). A segment is deleted once all its spans are written again.
"""

from __future__ import annotations

import logging
import threading

from otel_agent.record import SpanRecord
from otel_agent.sink import http_body
from otel_agent.sink.http_body import HttpError
from otel_agent.sink.journal import Journal
from otel_agent.sink.queue import SpanQueue

_log = logging.getLogger(__name__)
WAIT_S = 0.05  # between offers while the queue is full


class Replay:
    """A thread replaying the given old segments into the queue."""

    def __init__(self, journal: Journal, queue: SpanQueue, segments: list[int], max_request_bytes: int):
        self._journal, self._queue, self._segments = journal, queue, segments
        self._max_bytes = max_request_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-agent-sink-replay", daemon=True)
        self.spans = 0  # replayed so far

    def start(self) -> None:
        if self._segments:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        for segment in self._segments:
            for kind, body in self._journal.entries(segment):
                records = self._decode(kind, body)
                if records and not self._offer(records, segment):
                    return  # stopping: the rest stays in the journal for the next start
            self._journal.replayed(segment)
        if self.spans:
            _log.info("otel-agent sink: replayed %d span(s) from the journal", self.spans)

    def _decode(self, kind: int, body: bytes) -> list[SpanRecord]:
        media, encoding = http_body.media_of(kind)
        try:
            raw = http_body.decompress(body, encoding, self._max_bytes)
            return http_body.decode_body(raw, media).records
        except HttpError as exc:  # it decoded when it arrived: only a damaged file gets here
            _log.error("otel-agent sink: a journal entry no longer decodes, skipped: %s", exc.message)
            return []

    def _offer(self, records: list[SpanRecord], segment: int) -> bool:
        self._journal.expect(segment, len(records))
        while not self._queue.offer(records, segment):
            if self._queue.closed or self._stop.wait(WAIT_S):
                self._journal.forget(segment, len(records))
                return False
        self.spans += len(records)
        return True
