"""AWS Bedrock through the real boto3 against the fake provider speaking Bedrock Runtime's wire format
(Converse JSON, ConverseStream's binary event stream, InvokeModel for Anthropic and Titan): one LLM span
per call with tokens and cost, after the real processors ran."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from otel_agent import attributes as A
from otel_agent.fakeprovider import FakeProvider, Usage, bedrock
from tests.genai_support import Rig, rig

boto3 = pytest.importorskip("boto3")

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Say hello"}]}]
# claude-3-5-sonnet on Bedrock: $3 / $15 per MTok, cache reads $0.30 (genai-prices' aws prices)
CLAUDE_COST = (1034 * 3 + 200 * 0.3 + 321 * 15) / 1e6


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


@pytest.fixture
def r(fake: FakeProvider) -> Iterator[Rig]:
    with rig(fake) as instrumented:
        yield instrumented


def client(fake: FakeProvider) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 (a fake)
        config=boto3.session.Config(retries={"total_max_attempts": 1}),
    )


def assert_claude_call(attrs: dict[str, Any]) -> None:
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == CLAUDE
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1234  # cache reads inside, as semconv counts them
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 321
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
    assert attrs[A.COST_USD] == pytest.approx(CLAUDE_COST, rel=1e-6)


def test_converse(fake: FakeProvider, r: Rig) -> None:
    reply = client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    assert reply["usage"]["outputTokens"] == 321
    attrs = r.one_llm_span()
    assert_claude_call(attrs)
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


def test_converse_stream_events_reach_the_app_unchanged(fake: FakeProvider, r: Rig) -> None:
    events = list(client(fake).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text.strip() == "Hello from the fake provider."
    assert events[-1]["metadata"]["usage"]["inputTokens"] == 1034
    attrs = r.one_llm_span()
    assert_claude_call(attrs)
    assert attrs[A.GEN_AI_REQUEST_STREAM] is True


def test_invoke_model_anthropic_and_titan(fake: FakeProvider, r: Rig) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": []})
    reply = client(fake).invoke_model(modelId=CLAUDE, body=body)
    assert json.loads(reply["body"].read())["usage"]["output_tokens"] == 321  # the app still reads it
    titan = "amazon.titan-text-express-v1"
    client(fake).invoke_model(modelId=titan, body=json.dumps({"inputText": "hi"}))
    claude, other = (dict(s.attributes or {}) for s in r.llm_spans())
    assert_claude_call(claude)
    assert (other[A.GEN_AI_USAGE_INPUT_TOKENS], other[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1234, 321)
    assert other[A.GEN_AI_REQUEST_MODEL] == titan


def test_throttling_is_an_error_span(fake: FakeProvider, r: Rig) -> None:
    fake.script(bedrock.throttled())
    with pytest.raises(Exception, match="Throttling"):
        client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    attrs = r.one_llm_span()
    assert attrs[A.ERROR_TYPE] == "ThrottlingException"
    assert attrs[A.ERROR_CATEGORY] == "rate_limit"


def test_other_aws_calls_are_left_alone(fake: FakeProvider, r: Rig) -> None:
    fake.script(*[bedrock.converse(USAGE)])
    with pytest.raises(Exception):  # noqa: B017 (the fake is no S3: any error will do)
        boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=fake.url,
            aws_access_key_id="t",
            aws_secret_access_key="t",  # noqa: S106
        ).list_buckets()
    assert r.llm_spans() == []


def test_with_the_contrib_botocore_instrumentation_one_span_per_call(fake: FakeProvider, r: Rig) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument(
        tracer_provider=r.provider
    )  # wraps after us, as under opentelemetry-instrument
    try:
        client(fake).converse(modelId=CLAUDE, messages=MESSAGES)
    finally:
        BotocoreInstrumentor().uninstrument()
    (span,) = r.llm_spans()
    assert (span.attributes or {}).get(
        A.GEN_AI_SYSTEM_LEGACY
    ) == "aws.bedrock"  # theirs, not a second of ours
