"""A bounded on-disk spool: span batches wait here while the database is down, and are replayed later.

One file per batch (JSON lines of SpanRecords), written atomically (temp file + rename), named so that
sorting gives arrival order. A reader claims a file by renaming it, so several processes can share the
directory; claims of dead processes are taken back. Past ``max_bytes`` new batches are dropped and
counted (in memory and in the ``dropped_spans`` file, so the CLI can show it). Nothing is kept in RAM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from otel_agent.record import SpanEvent, SpanRecord

_log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
CLAIMED = ".claimed-"
DROPPED_FILE = "dropped_spans"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_FIELDS = tuple(f.name for f in fields(SpanRecord))


def _as_dict(record: SpanRecord) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value, which costs more than the JSON encoding.
    out = {name: getattr(record, name) for name in _FIELDS}
    out["attributes"] = dict(record.attributes)
    out["resource_attributes"] = dict(record.resource_attributes)
    out["events"] = [
        {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": dict(e.attributes)}
        for e in record.events
    ]
    return out


def dumps(records: Sequence[SpanRecord]) -> bytes:
    lines = (json.dumps(_as_dict(r), default=_encode, separators=(",", ":")) for r in records)
    return ("\n".join(lines) + "\n").encode("utf-8")


def loads(data: bytes) -> list[SpanRecord]:
    records = []
    for line in data.decode("utf-8").splitlines():
        if line:
            fields = json.loads(line)
            fields["events"] = tuple(SpanEvent(**e) for e in fields.get("events") or ())
            records.append(SpanRecord(**fields))
    return records


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """Bounded directory of pending batches (see the module docstring)."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.dropped_spans = 0
        self._lock = threading.Lock()
        self._seq = 0
        self._size: int | None = None  # cached; recounted from disk when unknown
        self._refusing = False  # logged once when the spool starts refusing; again after it recovered

    def put(self, records: Sequence[SpanRecord]) -> bool:
        """Write a batch; False (and counted) when the spool is full or the disk refuses it."""
        if not records:
            return True
        data = dumps(records)
        with self._lock:
            try:
                if self.size_bytes() + len(data) > self.max_bytes:
                    raise OSError(f"spool full ({self.max_bytes} bytes)")
                self._write(data)
                self._size = self.size_bytes() + len(data)
                self._refusing = False
                return True
            except OSError as exc:
                self._dropped(len(records), exc)
                return False

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / (name + SUFFIX))

    def _dropped(self, count: int, reason: Exception) -> None:
        self.dropped_spans += count
        if not self._refusing:  # once per episode; the count goes on in the metric and the file
            self._refusing = True
            _log.warning(
                "otel-agent spool dropped %d spans (%d so far; further drops are counted in "
                "otel_agent.pipeline.spans.dropped, not logged): %s",
                count,
                self.dropped_spans,
                reason,
            )
        with contextlib.suppress(OSError):
            total = read_dropped(self.directory) + count
            (self.directory / DROPPED_FILE).write_text(str(total))

    def size_bytes(self) -> int:
        if self._size is None:
            self._size = sum(p.stat().st_size for p in self._files("*"))
        return self._size

    def _files(self, pattern: str) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob(pattern) if p.name[0].isdigit() and ".tmp" not in p.name)

    def pending(self) -> int:
        return len(self._files("*" + SUFFIX))

    def claim(self) -> Iterator[tuple[Path, list[SpanRecord]]]:
        """Oldest batches first, each claimed by this process; call ``done`` or ``release`` on each."""
        self._reclaim_dead()
        for path in self._files("*" + SUFFIX):
            claimed = path.with_name(path.name + CLAIMED + str(os.getpid()))
            try:
                os.replace(path, claimed)
                records = loads(claimed.read_bytes())
            except FileNotFoundError:
                continue  # another process took it
            except (OSError, ValueError, TypeError) as exc:
                _log.warning("otel-agent spool: unreadable batch %s set aside: %s", path.name, exc)
                self._set_aside(claimed)
                continue
            yield claimed, records

    def done(self, claimed: Path) -> None:
        with self._lock:
            claimed.unlink(missing_ok=True)
            self._size = None

    def release(self, claimed: Path) -> None:
        """Give a claimed batch back (the database went away again)."""
        os.replace(claimed, claimed.with_name(claimed.name.split(CLAIMED)[0]))

    def _set_aside(self, claimed: Path) -> None:
        with contextlib.suppress(OSError):
            os.replace(claimed, claimed.with_name(claimed.name.split(CLAIMED)[0] + ".bad"))

    def _reclaim_dead(self) -> None:
        for path in self._files("*" + CLAIMED + "*"):
            pid = int(path.name.rsplit("-", 1)[-1]) if path.name.rsplit("-", 1)[-1].isdigit() else 0
            if pid != os.getpid() and not _pid_alive(pid):
                self.release(path)


def read_dropped(directory: str | Path) -> int:
    try:
        return int((Path(directory) / DROPPED_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0
