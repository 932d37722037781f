from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from otel_agent import attributes as A
from otel_agent.errors import classify_error, classify_span

FIXTURES = Path("/work/shared/fixtures/providers")
if not FIXTURES.exists():
    FIXTURES = Path(__file__).parent / "fixtures" / "providers"

EXPECTED = {
    "anthropic/error_400_invalid_request_error.json": "validation",
    "gemini/error_401_vertex_unauthenticated.json": "auth",
    "gemini/error_429_resource_exhausted.json": "rate_limit",
    "groq/error_400_tool_use_failed.json": "tool_error",
    "openai/error_401_invalid_api_key.json": "auth",
    "openai/error_404_model_not_found.json": "validation",
}


@pytest.mark.parametrize(("name", "category"), sorted(EXPECTED.items()))
def test_recorded_provider_errors(name: str, category: str) -> None:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} not present")
    response = json.loads(path.read_text())["response"]
    assert classify_error(status_code=response["status"], body=response["body"]) == category


@pytest.mark.parametrize(
    ("kwargs", "category"),
    [
        ({"status_code": 400, "body": '{"error": {"code": "context_length_exceeded"}}'}, "context_length"),
        (
            {"status_code": 400, "body": {"error": {"message": "prompt is too long: 210000 tokens"}}},
            "context_length",
        ),
        ({"status_code": 400, "body": '{"error": {"code": "content_filter"}}'}, "content_filter"),
        (
            {"status_code": 529, "body": '{"type": "error", "error": {"type": "overloaded_error"}}'},
            "provider_error",
        ),
        ({"status_code": 500}, "provider_error"),
        ({"status_code": 503}, "provider_error"),
        ({"status_code": 504}, "timeout"),
        ({"status_code": 403}, "auth"),
        ({"status_code": 422}, "validation"),
        ({"exception": TimeoutError("read timed out")}, "timeout"),
        ({"exception": asyncio.CancelledError()}, "cancelled"),
        ({"exception": ValueError("bad arg")}, "validation"),
        ({"exception": RuntimeError("boom"), "is_tool": True}, "tool_error"),
        ({"exception": RuntimeError("boom")}, "unknown"),
        ({"exception_type": "RateLimitError"}, "rate_limit"),
        ({"exception_type": "openai.AuthenticationError"}, "auth"),
        ({}, "unknown"),
    ],
)
def test_classification_rules(kwargs: dict, category: str) -> None:
    assert classify_error(**kwargs) == category


def test_odd_input_never_raises() -> None:
    assert classify_error(status_code=429, body=b"\xff\xfe\x00" * 100_000) == "rate_limit"
    assert classify_error(status_code=True, body=object()) == "unknown"  # type: ignore[arg-type]
    assert classify_error(body=memoryview(b"rate_limit_exceeded")) == "rate_limit"


class _Event:
    def __init__(self, name: str, attributes: dict) -> None:
        self.name, self.attributes = name, attributes


def test_classify_span_reads_exception_event_and_tool_operation() -> None:
    events = [_Event("exception", {A.EXCEPTION_TYPE: "KeyError", A.EXCEPTION_MESSAGE: "'x'"})]
    attrs = {A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL}
    assert classify_span(attrs, events, None) == "tool_error"
    assert classify_span({"http.response.status_code": 429}, [], None) == "rate_limit"
    assert classify_span({A.ERROR_TYPE: "TimeoutError"}, [], None) == "timeout"
