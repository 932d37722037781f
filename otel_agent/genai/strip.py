"""Remove the usage-only chunk we asked for (opt-in stream usage), so the application reads what it would
have read without us. Works on whole SSE events: a partial event is held back until its end arrives."""

from __future__ import annotations

import re

_EVENT_END = re.compile(rb"\r?\n\r?\n")
# OpenAI's include_usage chunk: empty choices and a usage object.
_USAGE_ONLY = re.compile(rb'"choices"\s*:\s*\[\s*\]')


class UsageChunkStripper:
    """Feed raw SSE bytes, get the same bytes minus usage-only events."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk if self._held else chunk
        ends = [at + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (at := data.rfind(sep)) >= 0]
        cut = max(ends, default=0)
        self._held = data[cut:]
        return self._drop_usage_events(data[:cut])

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._drop_usage_events(held)

    @staticmethod
    def _drop_usage_events(region: bytes) -> bytes:
        if not _USAGE_ONLY.search(region):
            return region
        kept: list[bytes] = []
        pos = 0
        for match in _EVENT_END.finditer(region):
            event = region[pos : match.end()]
            if not (_USAGE_ONLY.search(event) and b'"usage"' in event):
                kept.append(event)
            pos = match.end()
        tail = region[pos:]
        if tail and not (_USAGE_ONLY.search(tail) and b'"usage"' in tail):
            kept.append(tail)
        return b"".join(kept)
