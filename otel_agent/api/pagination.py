"""Opaque keyset cursors: page N costs the same as page 1, and new rows never shift a page.

A cursor names the last row already seen as (sort value, row key). The client treats it as an opaque
string; anything that does not decode is a clear 400, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime


class BadCursor(ValueError):
    """The cursor was not one this API issued."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of the previous page: its sort time and its unique key."""

    at: datetime
    key: str

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            at, key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            return cls(datetime.fromisoformat(at), str(key))
        except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
            raise BadCursor(
                f"malformed cursor {text[:40]!r}: pass back a next_cursor from a previous page"
            ) from exc
