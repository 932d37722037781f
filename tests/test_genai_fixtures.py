"""Every recorded provider exchange parses to exactly the usage its provider reported (INDEX.md), read
whole and read as a stream in awkward chunk sizes; provider and operation come from the recorded URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_agent import attributes as A
from otel_agent.genai.body import BodyReader, read_whole
from otel_agent.genai.capture import Capture
from otel_agent.genai.facts import CallFacts
from otel_agent.genai.settings import GenAISettings
from tests.genai_expectations import EXPECTED, PROVIDERS

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
ALL = sorted(str(p.relative_to(FIXTURES).with_suffix("")) for p in FIXTURES.glob("*/*.json"))
_KEYS = {
    "in": A.GEN_AI_USAGE_INPUT_TOKENS,
    "out": A.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read": A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_creation": A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "reasoning": A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def request_of(fixture: dict[str, Any]) -> httpx.Request:
    req = fixture["request"]
    body = req.get("body") or ""
    text = body if isinstance(body, str) else json.dumps(body)
    return httpx.Request(req["method"], req["url"], content=text.encode())


def facts_for(name: str, chunk: int | None) -> CallFacts:
    fixture = load(name)
    found = Capture(GenAISettings()).route_for(request_of(fixture))
    assert found is not None, f"{name}: URL not recognised as an LLM call"
    facts = CallFacts(provider=found.provider, operation=found.operation)
    status, headers = fixture["response"]["status"], httpx.Headers(fixture["response"]["headers"])
    body = fixture["response"]["body"].encode()
    if chunk is None:
        read_whole(found.wire, facts, status, headers, body)
    else:
        reader = BodyReader(found.wire, facts, status, headers, 1 << 20)
        for at in range(0, len(body), chunk):
            reader.feed(body[at : at + chunk])
        reader.finish(complete=True)
    return facts


def test_every_fixture_has_an_expectation() -> None:
    assert len(ALL) >= 50
    assert set(ALL) == set(EXPECTED)


@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
@pytest.mark.parametrize("name", ALL)
def test_fixture_parses_to_recorded_usage(name: str, chunk: int | None) -> None:
    expected = EXPECTED[name]
    attrs = facts_for(name, chunk).response_attributes()
    usage = {key: attrs[attr] for key, attr in _KEYS.items() if attr in attrs}
    assert usage == {k: v for k, v in expected.items() if k in _KEYS}
    if "error" in expected:
        assert (attrs.get(A.ERROR_TYPE), attrs.get(A.ERROR_CATEGORY)) == expected["error"]
    else:
        assert A.ERROR_TYPE not in attrs
        assert attrs.get(A.GEN_AI_RESPONSE_MODEL) == expected["model"]
        assert A.CAPTURE_ERROR not in attrs, attrs[A.CAPTURE_ERROR]
    if "finish" in expected:
        assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == expected["finish"]


@pytest.mark.parametrize("name", ALL)
def test_provider_detected_from_recorded_url(name: str) -> None:
    folder = name.split("/")[0]
    fixture = load(name)
    found = Capture(GenAISettings()).route_for(request_of(fixture))
    assert found is not None
    if folder == "gemini":
        assert found.provider in ("gcp.gemini", "gcp.vertex_ai")
    else:
        assert found.provider == PROVIDERS[folder]
