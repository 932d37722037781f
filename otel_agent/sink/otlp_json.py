"""OTLP/JSON request bodies -> ``DecodeResult``, per the OTLP spec's JSON mapping.

The spec's JSON differs from protobuf's canonical JSON in one way that matters: trace and span ids are
hex strings. We also accept base64 ids (what a generic protobuf JSON encoder writes) and enums as
numbers or names. Each span is parsed on its own, so one bad span (a bad id, an unknown enum name) is
rejected with a reason while the others are kept; only a body that is not OTLP/JSON at all is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from otel_agent.sink.decode import DecodeResult, attributes_dict, span_record

_ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


# What ParseDict raises on hostile input: ParseError mostly; a lone surrogate ("\ud800") or a string
# where an object belongs can surface from protobuf's C extension as UnicodeEncodeError or SystemError.
_PARSE_ERRORS = (json_format.ParseError, ValueError, TypeError, AttributeError, SystemError)


def _why(exc: Exception) -> str:
    if isinstance(exc, json_format.ParseError):
        return str(exc)
    if isinstance(exc, (UnicodeError, SystemError)):
        return "a string is not valid UTF-8 (a lone surrogate?) or a field has the wrong JSON type"
    return f"a field has the wrong JSON type ({type(exc).__name__})"


class MalformedBody(ValueError):
    """The body is not an OTLP/JSON ExportTraceServiceRequest; the message says why."""


def decode_json(body: bytes) -> DecodeResult:
    """Decode an OTLP/JSON body; raises MalformedBody when its outer structure is wrong."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("body is nested too deeply") from None
    result = DecodeResult()
    for r_index, resource_doc in enumerate(_list_field(document, "resourceSpans")):
        resource = _parse(resource_doc, ResourceSpans, skip="scopeSpans").resource
        resource_attrs = attributes_dict(resource.attributes)
        for s_index, scope_doc in enumerate(_list_field(resource_doc, "scopeSpans")):
            scope_name = _parse(scope_doc, ScopeSpans, skip="spans").scope.name or None
            for index, span_doc in enumerate(_list_field(scope_doc, "spans")):
                try:
                    result.records.append(span_record(_span(span_doc), resource_attrs, scope_name))
                except ValueError as exc:  # InvalidSpan too
                    where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                    result.reject(where, str(exc))
    return result


def _list_field(document: Any, name: str) -> list[Any]:
    if not isinstance(document, dict):
        raise MalformedBody(f"expected a JSON object holding {name!r}, got {type(document).__name__}")
    value = document.get(name, [])
    if not isinstance(value, list):
        raise MalformedBody(f"{name!r} must be a JSON array, got {type(value).__name__}")
    return value


def _parse(document: Any, message_type: Any, skip: str) -> Any:
    # Parse all but the nested list we walk ourselves; a bad resource or scope makes a bad body.
    if not isinstance(document, dict):
        name = message_type.DESCRIPTOR.name
        raise MalformedBody(f"each {name} must be a JSON object, got {type(document).__name__}")
    rest = {k: v for k, v in document.items() if k != skip}
    try:
        return json_format.ParseDict(rest, message_type(), ignore_unknown_fields=True)
    except _PARSE_ERRORS as exc:
        raise MalformedBody(f"invalid {message_type.DESCRIPTOR.name}: {_why(exc)}") from None


def _span(document: Any) -> Span:
    """One span object -> protobuf Span; raises ValueError naming the problem."""
    if not isinstance(document, dict):
        raise ValueError(f"span must be a JSON object, got {type(document).__name__}")
    fields = dict(document)
    ids = {name: _span_id_bytes(fields.pop(name, ""), size, name) for name, size in _ID_FIELDS.items()}
    fields.pop("links", None)  # links are not materialised; their ids would need the same treatment
    # ignore_unknown_fields also turns an unknown enum NAME into 0 silently; refuse it instead.
    _known_enum_name(fields.get("kind"), Span.SpanKind.keys(), "span kind")
    status = fields.get("status")
    if isinstance(status, dict):
        _known_enum_name(status.get("code"), Status.StatusCode.keys(), "status code")
    try:
        span = json_format.ParseDict(fields, Span(), ignore_unknown_fields=True)
    except RecursionError:
        raise ValueError("span attributes are nested too deeply") from None
    except _PARSE_ERRORS as exc:
        raise ValueError(_why(exc)) from None
    span.trace_id, span.span_id, span.parent_span_id = ids["traceId"], ids["spanId"], ids["parentSpanId"]
    return span


def _known_enum_name(value: Any, names: list[str], what: str) -> None:
    if isinstance(value, str) and value not in names:
        raise ValueError(f"unknown {what} {value!r}")


def _span_id_bytes(text: Any, size: int, name: str) -> bytes:
    """A hex id (the OTLP/JSON form) or a base64 one; empty stays empty for the decoder to judge."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a string, got {type(text).__name__}")
    if not text:
        return b""
    if len(text) == 2 * size:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != size:
        raise ValueError(f"{name} {text[:40]!r} is neither {2 * size} hex digits nor base64 of {size} bytes")
    return raw
