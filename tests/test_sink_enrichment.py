"""Spans from another language through the real sink get the enrichment in-process spans get: usage in
every accepted spelling, cost and price source, the error taxonomy, the run's attribution, and one count
per LLM exchange, whatever the order and batching of the spans.

The OTLP requests are built field by field as a Node or Rust SDK sends them (no Python SDK involved):
protobuf over gRPC to ``otel-agent sink``, which writes through the store's materialiser to SQLite.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_agent import attributes as A
from otel_agent.pricing import PriceBook
from otel_agent.sink.service import SinkService
from otel_agent.store import models as M
from otel_agent.usage import Usage
from tests.sink_support import T0, pb_request, sink_settings

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=str(value))


def span(
    n: int,
    parent: int | None,
    name: str,
    attrs: dict[str, Any],
    start: int = 0,
    end: int = 100,
    error: str | None = None,
    kind: int = Span.SPAN_KIND_CLIENT,
) -> Span:
    """Span ``n`` (ids from the number), times in ms after T0, status ERROR with ``error`` as message."""
    status = Status(code=Status.STATUS_CODE_ERROR, message=error) if error is not None else Status()
    return Span(
        trace_id=TRACE,
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=kind,
        start_time_unix_nano=T0 + start * 1_000_000,
        end_time_unix_nano=T0 + end * 1_000_000,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in attrs.items()],
        status=status,
    )


def hexid(n: int) -> str:
    return n.to_bytes(8, "big").hex()


def send(url: str, batches: Sequence[Sequence[Span]]) -> None:
    sink = SinkService.with_store(sink_settings(sink_database_url=url))
    sink.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{sink.grpc_port}") as channel:
            stub = TraceServiceStub(channel)
            for batch in batches:
                stub.Export(pb_request(list(batch), service="node-worker"), timeout=10)
    finally:
        sink.stop()


def stored(url: str) -> dict[str, dict[str, dict[str, Any]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "runs": {r["run_id"]: dict(r) for r in conn.execute(sa.select(M.runs)).mappings()},
                "steps": {r["span_id"]: dict(r) for r in conn.execute(sa.select(M.steps)).mappings()},
                "failures": {
                    r["failure_id"]: dict(r) for r in conn.execute(sa.select(M.failures)).mappings()
                },
            }
    finally:
        engine.dispose()


def price(provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
    cost = PriceBook().price(Usage(input_tokens, output_tokens, provider=provider, model=model)).total_usd
    assert cost is not None
    return cost


RUN = {
    A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
    A.PROJECT: "books",
    A.STAGE: "draft",
    A.AGENT_ROLE: "writer",
    A.USER_ID: "erin",
    A.WORKSPACE: "acme",
    A.TAG_PREFIX + "style": "noir",
}


def language_trace() -> list[Span]:
    """A Node worker's run: semconv calls to gpt-4o and claude, an OpenInference-spelled call, a failed
    tool, and a nested run; only the run span carries attribution (as foreign SDKs do)."""
    return [
        span(1, None, "invoke_agent writer", RUN, 0, 1000, kind=Span.SPAN_KIND_INTERNAL),
        span(
            2,
            1,
            "chat gpt-4o",
            {
                A.GEN_AI_OPERATION_NAME: "chat",
                A.GEN_AI_PROVIDER_NAME: "openai",
                A.GEN_AI_REQUEST_MODEL: "gpt-4o",
                A.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                A.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
            },
            10,
            100,
        ),
        span(
            3,
            1,
            "chat claude-sonnet-4-5",
            {
                A.GEN_AI_OPERATION_NAME: "chat",
                A.GEN_AI_SYSTEM_LEGACY: "anthropic",
                A.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                A.GEN_AI_USAGE_PROMPT_TOKENS_LEGACY: 2000,
                A.GEN_AI_USAGE_COMPLETION_TOKENS_LEGACY: 200,
            },
            110,
            200,
        ),
        span(
            4,
            1,
            "ChatCompletion",
            {
                A.OI_SPAN_KIND: "LLM",
                A.OI_SYSTEM: "openai",
                A.OI_MODEL_NAME: "gpt-4o",
                A.OI_TOKEN_COUNT_PROMPT: 300,
                A.OI_TOKEN_COUNT_COMPLETION: 30,
            },
            210,
            300,
            kind=Span.SPAN_KIND_INTERNAL,
        ),
        span(
            5,
            1,
            "execute_tool search",
            {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "search"},
            310,
            400,
            error="search backend returned nothing",
            kind=Span.SPAN_KIND_INTERNAL,
        ),
        span(
            6,
            1,
            "invoke_agent editor",
            {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT},
            410,
            900,
            kind=Span.SPAN_KIND_INTERNAL,
        ),
        span(
            7,
            6,
            "chat gpt-4o-mini",
            {
                A.GEN_AI_OPERATION_NAME: "chat",
                A.GEN_AI_PROVIDER_NAME: "openai",
                A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                A.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-08-06",
                A.GEN_AI_USAGE_INPUT_TOKENS: 500,
                A.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
            },
            420,
            500,
        ),
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.mark.parametrize("order", ["parents_first", "children_first_one_by_one"])
def test_a_foreign_run_through_the_sink_is_enriched_like_ours(url: str, order: str) -> None:
    spans = language_trace()
    send(url, [spans] if order == "parents_first" else [[s] for s in reversed(spans)])
    db = stored(url)
    steps, runs = db["steps"], db["runs"]
    gpt, claude, oi = steps[hexid(2)], steps[hexid(3)], steps[hexid(4)]
    assert gpt["cost_usd"] == pytest.approx(price("openai", "gpt-4o", 1000, 100))
    assert gpt["price_source"] == A.PRICE_SOURCE_GENAI_PRICES
    assert claude["provider"] == "anthropic" and claude["input_tokens"] == 2000
    assert claude["cost_usd"] == pytest.approx(price("anthropic", "claude-sonnet-4-5", 2000, 200))
    assert oi["kind"] == "llm" and oi["input_tokens"] == 300 and oi["response_model"] == "gpt-4o"
    assert oi["cost_usd"] == pytest.approx(price("openai", "gpt-4o", 300, 30))
    mini = steps[hexid(7)]  # a dated response model without a price: the request model's price
    assert mini["price_source"] == A.PRICE_SOURCE_GENAI_PRICES + A.PRICE_SOURCE_REQUEST_MODEL
    assert mini["cost_usd"] == pytest.approx(price("openai", "gpt-4o-mini", 500, 50))
    assert steps[hexid(5)]["error_category"] == db["failures"][hexid(5)]["error_category"] == "tool_error"
    for step in steps.values():  # every step carries its run's attribution
        assert (step["project"], step["stage"], step["agent_role"], step["user_id"]) == (
            "books",
            "draft",
            "writer",
            "erin",
        )
    nested = runs[hexid(6)]  # the nested run inherits its parent run's attribution and tags
    assert (nested["project"], nested["workspace"], nested["user_id"]) == ("books", "acme", "erin")
    assert nested["tags"] == {"style": "noir"}
    outer = runs[hexid(1)]
    assert outer["llm_calls"] == 3 and outer["unpriced_calls"] == 0 and outer["error_count"] == 1
    assert outer["cost_usd"] == pytest.approx(gpt["cost_usd"] + claude["cost_usd"] + oi["cost_usd"])
    assert nested["llm_calls"] == 1 and nested["cost_usd"] == pytest.approx(mini["cost_usd"])


def one_exchange_three_ways() -> list[Span]:
    """Only foreign spans: a wrapper (OpenLLMetry-js style, no HTTP facts) around an SDK call span (on the
    wire), a sibling wrapper beside it, and an HTTP client span of a 429 under the call."""
    call = {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_PROVIDER_NAME: "openai",
        A.GEN_AI_REQUEST_MODEL: "gpt-4o",
    }
    usage = {A.GEN_AI_USAGE_INPUT_TOKENS: 1000, A.GEN_AI_USAGE_OUTPUT_TOKENS: 100}
    return [
        span(
            1,
            None,
            "invoke_workflow job",
            {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW, A.PROJECT: "p"},
            0,
            1000,
            kind=Span.SPAN_KIND_INTERNAL,
        ),
        # exchange 1: wrapper above the call
        span(2, 1, "openai.chat", {**call, **usage}, 10, 200),
        span(
            3,
            2,
            "POST /v1/chat/completions",
            {**call, **usage, A.HTTP_REQUEST_METHOD: "POST", A.HTTP_RESPONSE_STATUS_CODE: 200},
            20,
            190,
        ),
        # exchange 2: a sibling wrapper beside the SDK's call span
        span(4, 1, "anthropic.chat", {**call, **usage}, 210, 400),
        span(
            5, 1, "openai.chat.completions.create", {**call, **usage, A.HTTP_REQUEST_METHOD: "POST"}, 220, 390
        ),
        # exchange 3: a 429; the HTTP client span under the call says only http.status_code
        span(6, 1, "chat gpt-4o", call, 410, 500, error="429 Too Many Requests"),
        span(
            7, 6, "POST", {A.HTTP_METHOD_LEGACY: "POST", A.HTTP_STATUS_CODE_LEGACY: 429}, 420, 490, error=""
        ),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_only_foreign_spans_count_once_in_any_order_and_batching(url: str, seed: int) -> None:
    spans = one_exchange_three_ways()
    random.Random(seed).shuffle(spans)
    cut = random.Random(seed).randrange(1, len(spans))
    send(url, [spans[:cut], spans[cut:]])
    db = stored(url)
    run = db["runs"][hexid(1)]
    assert run["llm_calls"] == 3
    assert (run["input_tokens"], run["output_tokens"]) == (2000, 200)
    assert run["cost_usd"] == pytest.approx(2 * price("openai", "gpt-4o", 1000, 100))
    assert run["error_count"] == 1 and list(db["failures"]) == [hexid(6)]
    assert db["failures"][hexid(6)]["error_category"] == "rate_limit"
    http = db["steps"][hexid(7)]
    assert (
        http["kind"] == "http" and http["error_category"] == "rate_limit" and http["duplicate_of"] == hexid(6)
    )
    assert {s: db["steps"][hexid(s)]["duplicate_of"] for s in (2, 4)} == {2: hexid(3), 4: hexid(5)}
