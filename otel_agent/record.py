"""The neutral span record: what the materialiser turns into run, step and failure rows.

Two adapters build it: one from an SDK ``ReadableSpan`` (the in-process SQL exporter), one from OTLP
protobuf/JSON (the ``otel-agent sink`` service, for spans from any language). Nothing downstream of this
type knows which one it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

AttributeValue = Any  # str | bool | int | float | sequences of those, as OpenTelemetry allows


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """One span event (an exception, a retry, ...)."""

    name: str
    time_unix_nano: int
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A finished span (or an in-flight marker span), with ids as lowercase hex strings."""

    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str | None
    name: str
    kind: str  # INTERNAL | CLIENT | SERVER | PRODUCER | CONSUMER
    start_time_unix_nano: int
    end_time_unix_nano: int
    status_code: str  # UNSET | OK | ERROR
    status_message: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    resource_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    scope_name: str | None = None
