"""Pure OTLP protobuf decoding: ``ExportTraceServiceRequest`` -> ``SpanRecord`` list.

Each span is checked on its own; an invalid one is rejected with a reason and the rest are kept, so
the receiver can answer with an OTLP partial success. Nothing here does I/O or keeps state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_agent.record import AttributeValue, SpanEvent, SpanRecord

# OTLP enum numbers -> SpanRecord strings. UNSPECIFIED kind means INTERNAL (the spec's default).
SPAN_KINDS = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
MAX_REASONS = 5  # reasons quoted in one error_message; the count covers the rest


class InvalidSpan(ValueError):
    """A span that cannot be materialised; the message says why."""


@dataclass
class DecodeResult:
    """What one request decoded to: the valid records, and why the others were rejected."""

    records: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            # A reason may quote the client's text: keep it valid UTF-8 (a lone surrogate is not).
            self.reasons.append(f"{where}: {reason[:300]}".encode("utf-8", "replace").decode("utf-8"))

    def error_message(self) -> str:
        """The OTLP partial-success message: empty when nothing was rejected."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.reasons)
        tail = f"; and {more} more" if more > 0 else ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons) + tail


def decode_request(request: ExportTraceServiceRequest, result: DecodeResult | None = None) -> DecodeResult:
    """Decode every span of ``request`` into ``result`` (a new one unless given)."""
    result = result if result is not None else DecodeResult()
    for r_index, resource_spans in enumerate(request.resource_spans):
        resource = attributes_dict(resource_spans.resource.attributes)
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            scope_name = scope_spans.scope.name or None
            for index, span in enumerate(scope_spans.spans):
                try:
                    result.records.append(span_record(span, resource, scope_name))
                except InvalidSpan as exc:
                    where = f"resource_spans[{r_index}].scope_spans[{s_index}].spans[{index}]"
                    result.reject(where, str(exc))
    return result


def span_record(span: Span, resource: Mapping[str, AttributeValue], scope_name: str | None) -> SpanRecord:
    """One protobuf span as a SpanRecord; raises InvalidSpan naming the first problem found."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start <= 0:
        raise InvalidSpan("start_time_unix_nano is missing")
    if end < start:
        raise InvalidSpan(f"end_time_unix_nano {end} is before start_time_unix_nano {start}")
    return SpanRecord(
        trace_id=_id_hex(span.trace_id, 16, "trace_id"),
        span_id=_id_hex(span.span_id, 8, "span_id"),
        parent_span_id=_parent_hex(span.parent_span_id),
        name=span.name,
        kind=_enum(SPAN_KINDS, span.kind, "span kind"),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status_code=_enum(STATUS_CODES, span.status.code, "status code"),
        status_message=span.status.message or None,
        attributes=attributes_dict(span.attributes),
        resource_attributes=resource,
        events=_events(span) if span.events else (),
        scope_name=scope_name,
    )


def _events(span: Span) -> tuple[SpanEvent, ...]:
    return tuple(SpanEvent(e.name, e.time_unix_nano, attributes_dict(e.attributes)) for e in span.events)


def _id_hex(raw: bytes, size: int, name: str) -> str:
    if len(raw) != size:
        raise InvalidSpan(f"{name} must be {size} bytes, got {len(raw)}")
    if not any(raw):
        raise InvalidSpan(f"{name} is all zeroes")
    return raw.hex()


def _parent_hex(raw: bytes) -> str | None:
    # Empty (and, leniently, all-zero) means a root span.
    if not raw or not any(raw):
        return None
    if len(raw) != 8:
        raise InvalidSpan(f"parent_span_id must be 8 bytes or empty, got {len(raw)}")
    return raw.hex()


def _enum(table: Mapping[int, str], value: int, name: str) -> str:
    try:
        return table[value]
    except KeyError:
        raise InvalidSpan(f"unknown {name} {value}") from None


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def attributes_dict(pairs: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    """KeyValue list -> plain dict; empty values are skipped, a repeated key keeps its last value."""
    out: dict[str, AttributeValue] = {}
    for kv in pairs:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind in _SCALARS:  # the hot path: most attributes are scalars
            out[kv.key] = getattr(value, kind)
        elif kind is not None:
            out[kv.key] = any_value(value)
    return out


def any_value(value: AnyValue) -> Any:
    """AnyValue by its oneof: scalars as Python scalars, arrays as tuples, kvlists as dicts, bytes as hex."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)
