"""SDK ``ReadableSpan`` -> neutral ``SpanRecord`` (the in-process adapter; the sink has the OTLP one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from otel_agent.record import SpanEvent, SpanRecord


def _hex(value: int, digits: int) -> str:
    return f"{value:0{digits}x}"


# Every span of a process shares one Resource: copy its attributes once. One tuple, swapped whole, so a
# reader in another exporter thread never pairs one resource with another's attributes.
_last_resource: list[tuple[Any, Mapping[str, Any]]] = [(None, {})]


def _resource_attributes(resource: Resource | None) -> Mapping[str, Any]:
    if resource is None:
        return {}
    last = _last_resource[0]
    if last[0] is not resource:
        last = (resource, dict(resource.attributes))
        _last_resource[0] = last
    return last[1]


def record_from_span(span: ReadableSpan) -> SpanRecord:
    """The SpanRecord for a finished span; ids as lowercase hex, enums by name."""
    context = span.get_span_context()
    if context is None:
        raise ValueError(f"span {span.name!r} has no span context")
    parent = span.parent
    status = span.status
    return SpanRecord(
        trace_id=_hex(context.trace_id, 32),
        span_id=_hex(context.span_id, 16),
        parent_span_id=_hex(parent.span_id, 16) if parent is not None and parent.span_id else None,
        name=span.name,
        kind=span.kind.name,
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or span.start_time or 0,
        status_code=status.status_code.name if status is not None else "UNSET",
        status_message=status.description if status is not None else None,
        attributes=dict(span.attributes or {}),
        resource_attributes=_resource_attributes(span.resource),
        events=tuple(SpanEvent(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events),
        scope_name=span.instrumentation_scope.name if span.instrumentation_scope is not None else None,
    )
