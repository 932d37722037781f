"""Stream wrappers that let the capture see a response body as the application reads it.

The application gets exactly the bytes it would have got (unless opt-in stream usage is on, which removes
only the usage chunk we asked for). The per-chunk hot path only appends to a list: chunks are handed to
the body reader in batches of 64 (servers often send one small chunk per event), which keeps a 1 MB
stream's overhead to a few percent. Our work runs under the fail-open guard: if it fails, the capture
stops for this response and the bytes keep flowing. The span ends when the body is read to the end,
closed, fails (timeout, reset) or the stream object is garbage-collected unread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from otel_agent.genai.call import Call
from otel_agent.guard import guard

_COMPONENT = "genai.stream"
# Chunks handed to the body reader at once. Counting chunks is cheaper than summing their sizes; memory
# stays bounded because a chunk is at most one socket read (64 KB in httpcore).
BATCH_CHUNKS = 64


class _Observed:
    """Shared by the sync and async wrappers: batch chunks for the call, end it once."""

    def _setup(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call = call
        self._held: list[bytes] = []
        self._ended = False
        self._stripper = None
        with guard(_COMPONENT):
            self._stripper = call.stripper()

    def _first(self) -> None:
        with guard(_COMPONENT):
            self._call.first_chunk()

    def _flush(self) -> None:
        held, body = self._held, self._call.body
        if self._ended or not held or body is None:
            held.clear()
            return
        data = held[0] if len(held) == 1 else b"".join(held)
        held.clear()  # in place: the read loop holds a reference to this list
        try:
            body.feed(data)
        except Exception as exc:  # stop reading this body (the bytes keep flowing) and say why on the span
            self._call.facts.note(f"capture failed ({type(exc).__name__})")
            self._call.body = None
            with guard(_COMPONENT):
                raise

    def _strip(self, chunk: bytes) -> bytes:
        assert self._stripper is not None
        with guard(_COMPONENT):
            return self._stripper.feed(chunk)
        return chunk

    def _tail(self) -> bytes:
        if self._stripper is None:
            return b""
        with guard(_COMPONENT):
            return self._stripper.flush()
        return b""

    def _end(self, how: str, exc: BaseException | None = None) -> None:
        if self._ended:
            return
        self._flush()
        self._ended = True
        with guard(_COMPONENT):
            self._call.body_ended(how, exc)

    def __del__(self) -> None:
        if not getattr(self, "_ended", True):
            self._end("abandoned")


def _how(exc: BaseException) -> str:
    return "closed" if isinstance(exc, GeneratorExit) else "failed"


class SyncTee(_Observed):
    """Wraps an httpx/httpx2 SyncByteStream (a subclass per library adds the library's base class)."""

    def __init__(self, inner: Any, call: Call) -> None:
        self._setup(inner, call)

    def __iter__(self) -> Iterator[bytes]:
        held, strip, first = self._held, self._stripper is not None, True
        try:
            for chunk in self._inner:  # the hot loop: locals, an append and a length check
                if first:
                    first = False
                    self._first()
                held.append(chunk)
                if len(held) >= BATCH_CHUNKS:
                    self._flush()
                if strip:
                    chunk = self._strip(chunk)
                    if not chunk:
                        continue
                yield chunk
            tail = self._tail()
        except BaseException as exc:  # re-raised unchanged: we only end the span
            self._end(_how(exc), exc)
            raise
        if tail:
            yield tail
        self._end("read")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end("closed")


class AsyncTee(_Observed):
    """Wraps an httpx/httpx2 AsyncByteStream."""

    def __init__(self, inner: Any, call: Call) -> None:
        self._setup(inner, call)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        held, strip, first = self._held, self._stripper is not None, True
        try:
            async for chunk in self._inner:  # the hot loop: locals, an append and a length check
                if first:
                    first = False
                    self._first()
                held.append(chunk)
                if len(held) >= BATCH_CHUNKS:
                    self._flush()
                if strip:
                    chunk = self._strip(chunk)
                    if not chunk:
                        continue
                yield chunk
            tail = self._tail()
        except BaseException as exc:
            self._end(_how(exc), exc)
            raise
        if tail:
            yield tail
        self._end("read")

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._end("closed")


def tee_classes(module: Any) -> tuple[type, type]:
    """SyncTee/AsyncTee subclasses that also derive from `module`'s byte-stream bases (httpx checks)."""
    sync = type("SyncTee", (SyncTee, module.SyncByteStream), {})
    async_ = type("AsyncTee", (AsyncTee, module.AsyncByteStream), {})
    return sync, async_
