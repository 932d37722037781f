"""One header's value from an httpx/httpx2 request or response, read the cheap way.

``headers.get_list(name)`` lower-cases and decodes every header through a comprehension, and
``headers.get`` raises and catches a KeyError inside when the header is absent: two lookups a call
(content type, the SDK's retry count) cost ~16k instructions that way, ~6k by walking httpx's own
list of (raw key, lower-case key, value) once. Same result: repeated headers joined with ", ", the
value decoded with the headers' own encoding; anything not shaped like httpx's headers takes the
public ``get_list``.
"""

from __future__ import annotations

from typing import Any

_KEYS: dict[str, bytes] = {}  # the few names we read, as httpx stores them


def _key(name: str) -> bytes:
    key = _KEYS[name] = name.lower().encode("ascii")
    return key


def header(headers: Any, name: str) -> str:
    """``", ".join(headers.get_list(name))``: the header's value, "" when absent."""
    wanted = _KEYS.get(name) or _key(name)
    found: bytes | None = None
    try:
        for _, key, value in headers._list:
            if key == wanted:
                found = value if found is None else found + b", " + value
    except (AttributeError, TypeError, ValueError):  # not httpx's internal shape
        return ", ".join(headers.get_list(name))
    if found is None:
        return ""
    return found.decode(headers.encoding)  # the encodings httpx picks decode joined parts alike
