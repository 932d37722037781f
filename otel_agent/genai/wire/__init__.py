"""One parser per provider wire format. Each is a `Wire`: how to read a whole JSON body and one stream event.

Parsers are pure: they read decoded JSON and *set* fields on `CallFacts`; they never raise on odd shapes
(wrong types are ignored, missing fields stay unknown). The stream scanner decides which events to decode.
"""

from __future__ import annotations

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
    # How many final stream events to decode when the stream ends. Usage, finish reasons and mid-stream
    # errors all sit at the end of a stream (model and id at its start, decoded as the "head"), so the
    # scanner never searches the middle: it only remembers where the last few events are. Searching
    # every chunk for marker strings cost ~10x more (bytes.find is slow on '"'-dense JSON).
    tail_events: int
    ndjson: bool = False  # events are lines (Ollama), not SSE blocks
