"""Pure decoding: OTLP protobuf and OTLP/JSON -> SpanRecord, with invalid spans rejected one by one."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_agent.sink.decode import decode_request
from otel_agent.sink.otlp_json import MalformedBody, decode_json
from tests.sink_support import T0, pb_request, pb_span

TRACE_HEX = "0af7651916cd43dd8448eb211c80319c"


def test_protobuf_span_becomes_a_record_with_hex_ids_and_names() -> None:
    span = pb_span(
        7,
        parent_span_id=bytes.fromhex("00f067aa0ba902b7"),
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
        events=[Span.Event(name="exception", time_unix_nano=T0 + 9, attributes=[_kv("exception.type", "E")])],
    )
    result = decode_request(pb_request([span], service="writer"))
    assert result.rejected == 0 and result.error_message() == ""
    (record,) = result.records
    assert record.trace_id == TRACE_HEX
    assert record.span_id == "0000000000000007"
    assert record.parent_span_id == "00f067aa0ba902b7"
    assert (record.kind, record.status_code, record.status_message) == ("CLIENT", "ERROR", "boom")
    assert record.resource_attributes == {"service.name": "writer"}
    assert record.scope_name == "tests"
    assert record.events[0].name == "exception" and record.events[0].attributes == {"exception.type": "E"}


def test_every_any_value_kind_is_decoded() -> None:
    values = [
        KeyValue(key="s", value=AnyValue(string_value="x")),
        KeyValue(key="b", value=AnyValue(bool_value=True)),
        KeyValue(key="i", value=AnyValue(int_value=-3)),
        KeyValue(key="d", value=AnyValue(double_value=0.5)),
        KeyValue(key="a", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)]))),
        KeyValue(key="m", value=AnyValue(kvlist_value=KeyValueList(values=[_kv("k", "v")]))),
        KeyValue(key="y", value=AnyValue(bytes_value=b"\x01\xff")),
        KeyValue(key="empty", value=AnyValue()),
    ]
    (record,) = decode_request(pb_request([pb_span(1, attributes=values)])).records
    assert record.attributes == {
        "s": "x",
        "b": True,
        "i": -3,
        "d": 0.5,
        "a": (1,),
        "m": {"k": "v"},
        "y": "01ff",
    }


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trace_id": b"\x01\x02\x03"}, "trace_id must be 16 bytes, got 3"),
        ({"trace_id": bytes(16)}, "trace_id is all zeroes"),
        ({"span_id": b""}, "span_id must be 8 bytes, got 0"),
        ({"parent_span_id": b"\x01"}, "parent_span_id must be 8 bytes or empty, got 1"),
        ({"kind": 42}, "unknown span kind 42"),
        ({"status": Status(code=9)}, "unknown status code 9"),  # type: ignore[arg-type]
        ({"start_time_unix_nano": 0}, "start_time_unix_nano is missing"),
        ({"end_time_unix_nano": T0 - 1}, "is before start_time_unix_nano"),
    ],
)
def test_an_invalid_span_is_rejected_with_its_reason_and_the_others_kept(
    overrides: dict, reason: str
) -> None:
    result = decode_request(pb_request([pb_span(1), pb_span(2, **overrides), pb_span(3)]))
    assert [r.span_id[-1] for r in result.records] == ["1", "3"]
    assert result.rejected == 1
    assert "spans[1]" in result.error_message() and reason in result.error_message()


def test_error_message_quotes_a_few_reasons_and_counts_the_rest() -> None:
    result = decode_request(pb_request([pb_span(i, kind=99) for i in range(1, 9)]))
    assert result.rejected == 8 and not result.records
    message = result.error_message()
    assert message.startswith("8 span(s) rejected") and message.endswith("and 3 more")


def test_unspecified_kind_means_internal_and_all_zero_parent_means_root() -> None:
    (record,) = decode_request(pb_request([pb_span(1, kind=0, parent_span_id=bytes(8))])).records
    assert record.kind == "INTERNAL" and record.parent_span_id is None


# --- OTLP/JSON -------------------------------------------------------------------------------------


def _json_body(*spans: dict) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "ts-worker"}}]}
    scope_spans = [{"scope": {"name": "js"}, "spans": list(spans)}]
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": scope_spans}]}).encode()


def _json_span(span_id: str = "00f067aa0ba902b7", **overrides: object) -> dict:
    span = {
        "traceId": TRACE_HEX,
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 5),
        "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
        "status": {"code": 2, "message": "bad"},
    }
    span.update(overrides)
    return span


def test_json_with_hex_ids_and_int_enums() -> None:
    (record,) = decode_json(_json_body(_json_span(parentSpanId="b7ad6b7169203331"))).records
    assert (record.trace_id, record.span_id, record.parent_span_id) == (
        TRACE_HEX,
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
    )
    assert (record.kind, record.status_code, record.status_message) == ("CLIENT", "ERROR", "bad")
    assert record.attributes == {"gen_ai.usage.input_tokens": 12}
    assert record.resource_attributes == {"service.name": "ts-worker"} and record.scope_name == "js"


def test_json_with_base64_ids_and_enum_names() -> None:
    b64 = base64.b64encode(bytes.fromhex(TRACE_HEX)).decode()
    span = _json_span(traceId=b64, spanId=base64.b64encode(b"\x00" * 7 + b"\x05").decode())
    span.update(kind="SPAN_KIND_SERVER", status={"code": "STATUS_CODE_OK"})
    (record,) = decode_json(_json_body(span)).records
    assert (record.trace_id, record.span_id, record.kind, record.status_code) == (
        TRACE_HEX,
        "0000000000000005",
        "SERVER",
        "OK",
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"traceId": "not-an-id"}, "traceId 'not-an-id' is neither 32 hex digits nor base64 of 16 bytes"),
        ({"spanId": "zzzzzzzzzzzzzzzz"}, "neither 16 hex digits nor base64 of 8 bytes"),
        ({"spanId": 12}, "spanId must be a string"),
        ({"kind": "SPAN_KIND_TELEPORT"}, "unknown span kind 'SPAN_KIND_TELEPORT'"),
        ({"status": {"code": "STATUS_CODE_MAYBE"}}, "unknown status code 'STATUS_CODE_MAYBE'"),
        ({"kind": 17}, "unknown span kind 17"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano"),
    ],
)
def test_json_bad_span_is_rejected_alone(overrides: dict, reason: str) -> None:
    body = _json_body(_json_span("0000000000000001"), _json_span("0000000000000002", **overrides))
    result = decode_json(body)
    assert [r.span_id for r in result.records] == ["0000000000000001"]
    assert result.rejected == 1
    assert "resourceSpans[0].scopeSpans[0].spans[1]" in result.error_message()
    assert reason in result.error_message()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"resourceSpans": {"a": 1}}', "must be a JSON array"),
        (b'{"resourceSpans": [{"resource": {"attributes": 5}, "scopeSpans": []}]}', "invalid ResourceSpans"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_json_body_that_is_not_otlp_is_refused_whole(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedBody, match=reason):
        decode_json(body)


def test_json_ignores_unknown_fields_as_the_spec_requires() -> None:
    span = _json_span(futureField={"x": 1})
    assert len(decode_json(_json_body(span)).records) == 1


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def test_json_nested_too_deeply_is_refused_not_crashed() -> None:
    depth = 5000
    value = '{"arrayValue": {"values": [' * depth + "{}" + "]}}" * depth
    span = json.dumps(_json_span())[:-1] + ', "attributes": [{"key": "x", "value": ' + value + "}]}"
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span.encode() + b"]}]}]}"
    with pytest.raises(MalformedBody, match="nested too deeply"):
        decode_json(body)
