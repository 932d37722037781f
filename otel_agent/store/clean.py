"""Turn untrusted attribute values into column values: bounded text, counts, numbers, ids, times.

Every helper returns None (or 0 for counts) for what it cannot read, never raises: a bad attribute
costs that attribute, not the span.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

_HEX_ID = re.compile(r"[0-9a-f]{1,32}")
_MAX_COUNT = 2**62  # BIGINT headroom for sums
_MAX_NANOS = 253_402_300_799 * 10**9  # 9999-12-31T23:59:59Z, the largest datetime
_UTC = timezone.utc
_from_timestamp = datetime.fromtimestamp


def text(value: Any, limit: int) -> str | None:
    """A str of at most ``limit`` chars that PostgreSQL and SQLite both accept (valid UTF-8, no NUL)."""
    if value is None:
        return None
    if value.__class__ is str and len(value) <= limit and value.isascii() and "\x00" not in value:
        return value  # the common case, checked in C: nothing to fix
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif not isinstance(value, str):
        value = _dump(value)
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        # Lone surrogates (from bad decoders) cannot be encoded; replace them rather than fail the row.
        value = value.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


def _dump(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        try:
            return json.dumps(list(value), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            pass
    return str(value)


def count(value: Any) -> int:
    """A non-negative token count; anything unreadable counts as 0."""
    if value is None:
        return 0
    if value.__class__ is int:  # the common case (bool is a subclass, so it is not this class)
        return value if 0 <= value < _MAX_COUNT else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if 0 <= value < _MAX_COUNT else 0
    number_ = number(value)
    if number_ is None or number_ < 0 or number_ >= _MAX_COUNT or number_ != int(number_):
        return 0
    return int(number_)


def number(value: Any) -> float | None:
    """A finite float, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def small_int(value: Any) -> int | None:
    """A 32-bit integer (retry attempts and the like), or None."""
    result = number(value)
    if result is None or result != int(result) or not -(2**31) < result < 2**31:
        return None
    return int(result)


def span_id(value: Any) -> str | None:
    """A lowercase hex id of at most 32 chars, or None."""
    if value.__class__ is str and _HEX_ID.fullmatch(value):
        return value  # the common case: one C call
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.hex()
    if not isinstance(value, str):
        return None
    if not _HEX_ID.fullmatch(value):
        value = value.strip().lower()
        if not _HEX_ID.fullmatch(value):
            return None
    return value


def time_from_nanos(value: Any) -> datetime | None:
    """UTC datetime from Unix nanoseconds; None for zero, negative or absurd values."""
    if value.__class__ is int and 0 < value < _MAX_NANOS:
        return _from_timestamp(value / 1e9, _UTC)  # the common case, without the checks below
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1e9, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def duration_ms(start_ns: Any, end_ns: Any) -> float | None:
    if not (isinstance(start_ns, int) and isinstance(end_ns, int)) or start_ns <= 0 or end_ns < start_ns:
        return None
    return (end_ns - start_ns) / 1e6
