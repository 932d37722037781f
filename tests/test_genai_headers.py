"""The capture's header read gives exactly what httpx's public ``get_list`` joined gives."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import pytest

from otel_agent.genai.headers import header

RAW: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"Content-Type", b"application/json")],
    [(b"content-type", b"text/event-stream"), (b"X-Other", b"1")],
    [(b"X-Stainless-Retry-Count", b"2"), (b"x-stainless-retry-count", b"3")],  # repeated: joined
    [(b"Retry-After", "dans 5 sécondes".encode())],  # utf-8 value
    [(b"Retry-After", "d\xe9j\xe0".encode("latin-1"))],  # neither ascii nor utf-8: iso-8859-1
    [(b"x-a", b"1"), (b"retry-after", "\xe9".encode("latin-1")), (b"retry-after", b"9")],
]
NAMES = ["content-type", "x-stainless-retry-count", "retry-after", "Retry-After", "absent"]


@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
@pytest.mark.parametrize("raw", RAW)
def test_same_as_get_list_joined(library: Any, raw: list[tuple[bytes, bytes]]) -> None:
    for name in NAMES:
        headers = library.Headers(raw)
        expected = ", ".join(library.Headers(raw).get_list(name))
        assert header(headers, name) == expected, name
    if raw:
        assert any(header(library.Headers(raw), name) for name in NAMES)  # the table finds something


def test_headers_of_another_shape_take_the_public_get_list() -> None:
    class Other:
        def get_list(self, name: str) -> list[str]:
            return ["a", "b"] if name == "x" else []

    assert header(Other(), "x") == "a, b"
    assert header(Other(), "y") == ""
