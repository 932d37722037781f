"""Incremental reader of SSE / NDJSON bytes that decodes only the events that matter.

Memory is bounded: only the unfinished tail event is kept (capped at ``max_event_bytes``). Per chunk the
work is a few C-level searches: find the last event boundary, search the complete region for the wire's
"interesting" pattern, and remember where the last complete event is. Events are decoded with json only
when they are (a) among the first few, until the model is known, (b) interesting, or (c) the very last.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from otel_agent.genai.facts import CallFacts
from otel_agent.genai.wire import Wire

_SSE_BOUNDARY = re.compile(rb"\r?\n\r?\n|\r\r")
_HEAD_EVENTS = 4  # decode this many leading events at most, looking for model and id


class EventScanner:
    """Feed it the response body chunk by chunk; it updates `facts` as events complete."""

    def __init__(self, wire: Wire, facts: CallFacts, max_event_bytes: int) -> None:
        self._wire = wire
        self._facts = facts
        self._max = max_event_bytes
        self._pending = b""
        self._head_left = _HEAD_EVENTS
        self._last: bytes | None = None  # the last complete event, not yet decoded
        self._skipping = False  # an oversized event is being dropped up to its boundary
        self.events_seen = False

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        end = self._last_boundary_end(data)
        if end <= 0:
            self._hold(data)
            return
        if self._skipping:
            data, end = self._skip_oversized(data, end)
        self._scan(data[:end])
        self._hold(data[end:])

    def finish(self, decode_tail: bool = True) -> bool:
        """End of body: decode the tail. Returns False if the body stopped in the middle of an event.

        A body the application closed early has a partial tail that is not worth a note: skip it."""
        tail = self._pending.strip()
        self._pending = b""
        if self._last is not None:
            self._decode(self._last)
            self._last = None
        if tail and decode_tail and not self._skipping:
            return self._decode(tail, final=True)
        return not self._skipping

    def _last_boundary_end(self, data: bytes) -> int:
        if self._wire.ndjson:
            return data.rfind(b"\n") + 1
        best = -1
        for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
            at = data.rfind(sep)
            if at >= 0:
                best = max(best, at + len(sep))
        return best

    def _hold(self, rest: bytes) -> None:
        if len(rest) > self._max:
            self._facts.note(f"stream event over {self._max} bytes not read")
            self._pending = b""
            self._skipping = True
        else:
            self._pending = rest

    def _skip_oversized(self, data: bytes, end: int) -> tuple[bytes, int]:
        self._skipping = False
        match = re.search(rb"\n" if self._wire.ndjson else _SSE_BOUNDARY, data)
        cut = match.end() if match else end
        return data[cut:], end - cut

    def _scan(self, region: bytes) -> None:
        pos = 0
        while self._head_left > 0 and pos < len(region):
            start, stop = pos, self._event_end(region, pos)
            self._decode(region[start:stop])
            self._head_left -= 1
            if self._facts.response_model or self._facts.response_id:
                self._head_left = 0
            pos = stop
        for match in self._wire.interesting.finditer(region, pos):
            if match.start() < pos:
                continue  # inside an event already decoded
            start = self._event_start(region, pos, match.start())
            pos = self._event_end(region, match.end())
            self._decode(region[start:pos])
        self._remember_last(region, pos)

    def _remember_last(self, region: bytes, decoded_to: int) -> None:
        body = region.rstrip()
        if len(body) <= decoded_to:
            self._last = None  # the last event was just decoded
            return
        start = self._event_start(region, decoded_to, len(body))
        self._last = region[start:]

    def _event_start(self, region: bytes, floor: int, at: int) -> int:
        if self._wire.ndjson:
            return max(region.rfind(b"\n", floor, at) + 1, floor)
        best = floor
        for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
            found = region.rfind(sep, floor, at)
            if found >= 0:
                best = max(best, found + len(sep))
        return best

    def _event_end(self, region: bytes, at: int) -> int:
        if self._wire.ndjson:
            found = region.find(b"\n", at)
            return len(region) if found < 0 else found + 1
        match = _SSE_BOUNDARY.search(region, at)
        return match.end() if match else len(region)

    def _decode(self, raw: bytes, final: bool = False) -> bool:
        """Decode one event and hand it to the wire parser. Returns False if it was unreadable."""
        raw = raw.strip()
        if not raw:
            return True
        if self._wire.ndjson:
            return self._deliver(None, raw, final)
        event, data = split_sse(raw)
        if data is None or data == b"[DONE]":
            return True
        return self._deliver(event, data, final)

    def _deliver(self, event: str | None, data: bytes, final: bool) -> bool:
        self.events_seen = True
        try:
            decoded: Any = json.loads(data)
        except ValueError:
            self._facts.note("stream ended mid-event" if final else "unreadable stream event")
            return False
        self._wire.read_event(event, decoded, self._facts)
        return True


def split_sse(raw: bytes) -> tuple[str | None, bytes | None]:
    """(event name, data) of one SSE event block; data lines are joined with newlines."""
    event: str | None = None
    data: list[bytes] = []
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
    return event, b"\n".join(data) if data else None


class Decompressor:
    """Undo gzip/deflate of a streamed body for our reading only (the app gets the raw bytes as before)."""

    def __init__(self, encoding: str) -> None:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)

    def feed(self, chunk: bytes) -> bytes:
        return self._zlib.decompress(chunk)
