"""The sink's on-disk journal: a request is appended here before it is acknowledged, so an OK survives a
crash (SIGKILL, OOM kill) of the sink, even while the database is down.

The journal is a directory of segment files, each a sequence of entries ``length, crc32, kind, body``
where the body is the request as it arrived (protobuf or JSON, gzipped or not: replay decodes it again,
which gives the same records). Entries go to the open segment; past ``segment_bytes`` a new one opens.
Every queued chunk carries its segment's number (a ticket); the writers report each written chunk back,
and a closed segment whose spans are all written is deleted. At start, the segments left by the previous
process are replayed into the queue (a span written twice is harmless: the materialiser is idempotent).

The directory is bounded (``max_bytes``): past it, ``append`` raises JournalFull and the receivers answer
"retry later". Without ``fsync`` an entry is in the operating system's cache when the client hears OK:
that survives the sink's own crash, not a power cut (``fsync=True`` covers that too, at a cost per request).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIB")  # body length, crc32 of the body, kind
SUFFIX = ".otlp"
PROTOBUF, JSON = 0, 1  # kind: the encoding, plus GZIP when the body is gzipped
GZIP = 2
SEGMENT_BYTES = 8 * 1024 * 1024


class JournalFull(Exception):
    """The journal holds ``max_bytes`` already: refuse the request with a retry delay."""


class Journal:
    """Append-before-acknowledge log of accepted requests (see the module docstring). Thread-safe."""

    def __init__(
        self, directory: str | Path, max_bytes: int, fsync: bool = False, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes, self._fsync, self._segment_bytes = max_bytes, fsync, segment_bytes
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}  # segment -> spans queued but not yet written
        self._closed: set[int] = set()  # segments that will get no more entries
        self._sizes: dict[int, int] = {}
        self._current = 0
        self._file: Any = None
        self._lock_file: Any = None

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def full(self) -> bool:
        return self.size_bytes >= self.max_bytes

    def open(self) -> list[int]:
        """Open a new segment after the existing ones; return those (oldest first), to be replayed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.directory / "lock").open("a")
        try:  # two sinks appending to one journal would replay and delete each other's segments
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RuntimeError(f"journal directory {self.directory} is in use by another sink") from None
        left = sorted(int(p.stem) for p in self.directory.glob("*" + SUFFIX) if p.stem.isdigit())
        with self._lock:
            for number in left:
                self._sizes[number] = self._path(number).stat().st_size
                self._pending[number] = 0
            self._roll(max(left, default=0) + 1)
        return left

    def append(self, body: bytes, kind: int, spans: int) -> int:
        """Write one request; return its ticket (segment number) once the bytes are in the file."""
        entry = HEADER.pack(len(body), zlib.crc32(body), kind) + body
        with self._lock:
            if self.size_bytes + len(entry) > self.max_bytes:
                raise JournalFull(
                    f"the sink's journal holds {self.size_bytes} bytes (limit {self.max_bytes})"
                )
            if self._sizes[self._current] + len(entry) > self._segment_bytes and self._sizes[self._current]:
                self._roll(self._current + 1)
            self._write(entry)
            self._sizes[self._current] += len(entry)
            self._pending[self._current] += spans
            return self._current

    def _write(self, entry: bytes) -> None:
        # Unbuffered: in the OS cache when write() returns. A failed or short write (disk full) is cut
        # off again, so the entries after it are not hidden behind a torn one at replay.
        start = self._sizes[self._current]
        try:
            if self._file.write(entry) != len(entry):
                raise OSError("short write to the sink's journal (disk full?)")
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError:
            self._file.truncate(start)
            raise

    def forget(self, ticket: int, spans: int) -> None:
        """The request was appended but then not queued (the queue filled meanwhile): nothing to wait for."""
        self.done({ticket: spans})

    def done(self, written: Mapping[int, int]) -> None:
        """``written`` spans of each segment are in the database; delete segments left with nothing."""
        with self._lock:
            for ticket, spans in written.items():
                if ticket in self._pending:
                    self._pending[ticket] -= spans
                    self._delete_if_drained(ticket)

    def expect(self, ticket: int, spans: int) -> None:
        """Replay queued ``spans`` more of an old segment."""
        with self._lock:
            self._pending[ticket] += spans

    def replayed(self, ticket: int) -> None:
        """Every entry of an old segment is queued: it may go once those spans are written."""
        with self._lock:
            self._closed.add(ticket)
            self._delete_if_drained(ticket)

    def entries(self, ticket: int) -> Iterator[tuple[int, bytes]]:
        """(kind, body) of each whole entry of a segment; a torn tail (crash mid-append) ends it."""
        with self._path(ticket).open("rb") as segment:
            while header := segment.read(HEADER.size):
                if len(header) < HEADER.size:
                    break
                length, crc, kind = HEADER.unpack(header)
                body = segment.read(length)
                if len(body) < length or zlib.crc32(body) != crc:
                    _log.warning("otel-agent sink journal: segment %d ends with a torn entry", ticket)
                    break
                yield kind, body

    def close(self) -> None:
        """Close the open segment; deleted at once if all its spans were written (a clean shutdown)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                self._closed.add(self._current)
                self._delete_if_drained(self._current)
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None

    def _roll(self, number: int) -> None:
        if self._file is not None:
            self._file.close()
            self._closed.add(self._current)
            self._delete_if_drained(self._current)
        self._current = number
        self._file = self._path(number).open("ab", buffering=0)
        self._sizes[number] = self._file.tell()
        self._pending[number] = 0

    def _delete_if_drained(self, ticket: int) -> None:
        if ticket in self._closed and self._pending.get(ticket, 0) <= 0:
            self._path(ticket).unlink(missing_ok=True)
            self._closed.discard(ticket)
            self._pending.pop(ticket, None)
            self._sizes.pop(ticket, None)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{SUFFIX}"
