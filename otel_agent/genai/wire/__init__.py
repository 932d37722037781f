"""One parser per provider wire format. Each is a `Wire`: how to read a whole JSON body and one stream event.

Parsers are pure: they read decoded JSON and *set* fields on `CallFacts`; they never raise on odd shapes
(wrong types are ignored, missing fields stay unknown). The stream scanner decides which events to decode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from otel_agent.genai.facts import CallFacts

BodyReader = Callable[[Any, CallFacts], None]
EventReader = Callable[["str | None", Any, CallFacts], None]


@dataclass(frozen=True)
class Wire:
    """A wire format: its parsers and, for streams, which events are worth decoding."""

    name: str
    read_body: BodyReader
    read_event: EventReader
    # Stream events (beyond the first ones and the last) that carry usage, finish reasons or errors. The
    # scanner decodes only those, found with this pattern at C speed, so a long stream costs little.
    interesting: re.Pattern[bytes]
    ndjson: bool = False  # events are lines (Ollama), not SSE blocks
