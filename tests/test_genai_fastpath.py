"""The non-streamed fast path gives the same results as the plain way: attributes set past the SDK's
re-validation, routes remembered per URL, and JSON decoded without json.loads's encoding detection."""

from __future__ import annotations

import codecs
import json
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.trace import INVALID_SPAN

from otel_agent.genai import capture as capture_module
from otel_agent.genai.body import parse_json
from otel_agent.genai.capture import Capture
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.settings import GenAISettings
from otel_agent.spanattrs import set_clean_attributes

VALUES: dict[str, Any] = {
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "gen_ai.usage.input_tokens": 12,
    "otel_agent.retry.after_s": 1.5,
    "otel_agent.flag": True,
}


def _both_ways(limits: SpanLimits | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Attributes of a span after the public set_attributes and after set_clean_attributes."""
    tracer = TracerProvider(span_limits=limits).get_tracer("t")
    results = []
    for setter in (lambda s, v: s.set_attributes(v), set_clean_attributes):
        span = tracer.start_span("chat", attributes={"gen_ai.response.model": "early", "a": "b"})
        setter(span, VALUES)
        span.end()
        results.append(span.attributes)  # type: ignore[attr-defined]
    return dict(results[0]), dict(results[1])


def test_clean_attributes_end_up_as_the_sdk_would_store_them() -> None:
    public, fast = _both_ways()
    assert fast == public
    assert list(fast) == list(public)  # a re-set key moves to the end in both


def test_a_value_length_limit_takes_the_public_path() -> None:
    public, fast = _both_ways(SpanLimits(max_span_attribute_length=5))
    assert fast == public
    assert fast["gen_ai.response.model"] == "gpt-4"  # truncated by the SDK, not by us


def test_an_attribute_count_limit_takes_the_public_path() -> None:
    public, fast = _both_ways(SpanLimits(max_span_attributes=4))
    assert fast == public
    assert len(fast) == 4


def test_ended_and_foreign_spans_are_left_to_the_public_api() -> None:
    span = TracerProvider().get_tracer("t").start_span("chat")
    span.end()
    set_clean_attributes(span, VALUES)  # the SDK warns and drops, as set_attributes would
    assert dict(span.attributes or {}) == {}  # type: ignore[attr-defined]
    set_clean_attributes(INVALID_SPAN, VALUES)  # no attribute store at all: no error


def test_routes_are_remembered_per_url_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "_MAX_TARGETS", 3)
    capture = Capture(GenAISettings(base_urls={"http://gw.local/v1": "openai"}))
    url = "http://gw.local/v1/chat/completions"
    first = capture.route_for(httpx.Request("POST", url))
    assert first is not None and first.provider == "openai"
    assert capture.route_for(httpx.Request("POST", url)) is first  # remembered
    for n in range(10):  # distinct query strings: routed alike, remembered only up to the bound
        assert capture.route_for(httpx.Request("POST", f"{url}?n={n}")) == first
    assert len(capture._targets) == 3
    assert capture.route_for(httpx.Request("GET", url)) is None
    assert capture.route_for(httpx.Request("POST", "http://other.local/v1/upload")) is None
    shaped = capture.route_for(httpx.Request("POST", "http://other.local/v1/chat/completions"))
    assert shaped is not None and shaped.detected  # any host: recognised by the path, named later


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "m"}',
        b'{"model": "m"}\n  \r\n',
        b'{"model": "m"} {"again": 1}',
        b'{"n": NaN, "big": 123456789012345678901234567890}',
        b'{"s": "\\ud800"}',
        b"{",
        b"{\x00",
        codecs.BOM_UTF8 + b'{"model": "m"}',
        '{"model": "m"}'.encode("utf-16"),
        b'  {"model": "m"}',
        b"[1, 2]",
        b"",
        b"<html>",
    ],
)
def test_response_json_decodes_as_json_loads_does(body: bytes) -> None:
    try:
        expected: Any = json.loads(body)
    except ValueError:
        expected = None
    facts = CallFacts("openai", "chat")
    decoded = parse_json(body, facts, "response body")
    assert repr(decoded) == repr(expected)  # repr: NaN is not equal to itself
    assert bool(facts.capture_errors) == (expected is None)
