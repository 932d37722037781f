"""Incremental reader of SSE / NDJSON bytes that decodes only the events that matter.

What matters sits at the two ends of a stream: model and id in the first events (the "head"), usage,
finish reasons and mid-stream errors in the last few (``Wire.tail_events``). So per batch of bytes the
work is: find the last event boundary (one reverse search), decode head events while the model is
unknown, and remember the last few complete events; they are decoded once, when the stream ends.

Memory is bounded: the unfinished tail event (capped at ``max_event_bytes``, else skipped and noted) plus
the last ``tail_events`` events.
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from typing import Any

from otel_agent.genai.facts import CallFacts
from otel_agent.genai.wire import Wire

_HEAD_EVENTS = 4  # decode this many leading events at most, looking for model and id


class EventScanner:
    """Feed it the response body in pieces; `finish` decodes the remembered last events."""

    def __init__(self, wire: Wire, facts: CallFacts, max_event_bytes: int) -> None:
        self._wire = wire
        self._facts = facts
        self._max = max_event_bytes
        self._pending = b""
        self._head_left = _HEAD_EVENTS
        self._last: deque[bytes] = deque(maxlen=wire.tail_events)
        self._skipping = False  # an oversized event is being dropped up to its boundary
        # The event separator, learned from the first one seen. One style per stream in practice; searching
        # for all three SSE styles each time tripled the cost (reverse search for a missing pattern is slow).
        self._sep = b"\n" if wire.ndjson else b""

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        end = self._last_boundary_end(data)
        if end <= 0:
            self._hold(data)
            return
        if self._skipping:
            data, end = self._skip_oversized(data, end)
        self._scan(data, end)
        self._hold(data[end:])

    def finish(self, decode_tail: bool = True) -> bool:
        """End of body: decode the remembered events, then the unterminated tail if asked.

        Returns False if the body stopped in the middle of an event. A body the application closed early
        has a partial tail that is not worth a note: pass ``decode_tail=False``."""
        tail = self._pending.strip()
        self._pending = b""
        while self._last:
            self._decode(self._last.popleft())
        if tail and decode_tail and not self._skipping:
            return self._decode(tail, final=True)
        return not self._skipping

    def _last_boundary_end(self, data: bytes) -> int:
        if not self._sep:
            self._sep = _separator(data)
            if not self._sep:
                return -1
        at = data.rfind(self._sep)
        return at + len(self._sep) if at >= 0 else -1

    def _hold(self, rest: bytes) -> None:
        if len(rest) > self._max:
            self._facts.note(f"stream event over {self._max} bytes not read")
            self._pending = b""
            self._skipping = True
        else:
            self._pending = rest

    def _skip_oversized(self, data: bytes, end: int) -> tuple[bytes, int]:
        self._skipping = False
        found = data.find(self._sep)
        cut = found + len(self._sep) if found >= 0 else end
        return data[cut:], end - cut

    def _scan(self, data: bytes, end: int) -> None:
        """data[:end] holds only complete events."""
        pos = 0
        while self._head_left > 0 and pos < end:
            stop = self._event_end(data, pos, end)
            self._decode(data[pos:stop])
            self._head_left -= 1
            if self._facts.response_model or self._facts.response_id:
                self._head_left = 0
            pos = stop
        self._remember_last(data, pos, end)

    def _remember_last(self, data: bytes, floor: int, end: int) -> None:
        """Push the last `tail_events` complete events of data[floor:end] (oldest first)."""
        sep = self._sep
        found: list[bytes] = []
        stop = end
        while stop > floor and len(found) < (self._last.maxlen or 0):
            at = data.rfind(sep, floor, stop - len(sep))
            start = at + len(sep) if at >= 0 else floor
            found.append(data[start:stop])
            stop = start
        self._last.extend(reversed(found))

    def _event_end(self, data: bytes, at: int, end: int) -> int:
        found = data.find(self._sep, at, end)
        return found + len(self._sep) if found >= 0 else end

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
        try:
            decoded: Any = json.loads(data)
        except ValueError:
            self._facts.note("stream ended mid-event" if final else "unreadable stream event")
            return False
        self._wire.read_event(event, decoded, self._facts)
        return True


def _separator(data: bytes) -> bytes:
    """The first SSE event separator style present in data (b"" if none yet)."""
    present = [(at, sep) for sep in (b"\r\n\r\n", b"\n\n", b"\r\r") if (at := data.find(sep)) >= 0]
    return min(present)[1] if present else b""


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
