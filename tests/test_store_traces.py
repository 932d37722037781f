"""Realistic agent traces as SpanRecords, for the store tests and bench/bench_sql.py."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

from otel_agent import attributes as A
from otel_agent.record import SpanEvent, SpanRecord

T0 = 1_763_000_000_000_000_000  # ns, a fixed instant so rows compare exactly


def hex_id(rng: random.Random, digits: int = 16) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    attrs: Mapping[str, Any],
    start: int,
    end: int,
    status: str = "UNSET",
    **extra: Any,
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind="INTERNAL",
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status_code=status,
        attributes=dict(attrs),
        resource_attributes={A.SERVICE_NAME: "writer-service"},
        **extra,
    )


def _attribution(run_id: str, project: str, stage: str) -> dict[str, Any]:
    return {
        A.PROJECT: project,
        A.STAGE: stage,
        A.AGENT_ROLE: "writer",
        A.USER_ID: "user-42",
        A.RUN_ID: run_id,
        A.RUN_ROOT_ID: run_id,
        A.WORKSPACE: "acme",
    }


def llm_attrs(model: str, tokens_in: int, tokens_out: int, cost: float) -> dict[str, Any]:
    return {
        A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
        A.GEN_AI_PROVIDER_NAME: "openai",
        A.GEN_AI_REQUEST_MODEL: model,
        A.GEN_AI_RESPONSE_MODEL: model,
        A.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: tokens_in // 4,
        A.COST_USD: cost,
        A.PRICE_SOURCE: A.PRICE_SOURCE_GENAI_PRICES,
    }


def agent_trace(
    seed: int,
    steps: int = 20,
    project: str = "books",
    stage: str = "draft",
    fail_step: int | None = None,
    with_markers: bool = True,
) -> list[SpanRecord]:
    """One run (invoke_agent) with ``steps`` children: LLM calls, tool calls and stage spans, plus a
    run.start marker. ``fail_step`` makes that step fail with a rate-limit error."""
    rng = random.Random(seed)
    trace_id, run_id = hex_id(rng, 32), hex_id(rng)
    base = _attribution(run_id, project, stage)
    start = T0 + seed * 1_000_000_000
    records = []
    if with_markers:
        marker_attrs = {
            **base,
            A.MARKER: A.MARKER_RUN_START,
            A.RUN_START_TIME: start,
            A.RUN_NAME: "invoke_agent writer",
        }
        records.append(span(trace_id, hex_id(rng), run_id, A.MARKER_SPAN_NAME, marker_attrs, start, start))
    stage_id = hex_id(rng)
    t = start + 1_000
    for i in range(steps):
        step_id = hex_id(rng)
        attrs: dict[str, Any] = dict(base)
        if i == 0:
            step_id, name = stage_id, "stage outline"
        elif i % 3 == 2:
            attrs |= {A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL, A.GEN_AI_TOOL_NAME: "search"}
            name = "execute_tool search"
        else:
            attrs |= llm_attrs("gpt-4o", 1000 + i, 200 + i, 0.001 * (i + 1))
            name = "chat gpt-4o"
        status, events = "UNSET", ()
        if i == fail_step:
            status = "ERROR"
            attrs |= {A.ERROR_CATEGORY: "rate_limit", A.ERROR_TYPE: "429", A.RETRY_ATTEMPT: 1}
            events = (
                SpanEvent(
                    "exception",
                    t + 500,
                    {
                        A.EXCEPTION_TYPE: "RateLimitError",
                        A.EXCEPTION_MESSAGE: "slow down",
                        A.EXCEPTION_STACKTRACE: "tb",
                    },
                ),
            )
        parent = run_id if i == 0 else stage_id
        records.append(span(trace_id, step_id, parent, name, attrs, t, t + 1_000_000, status, events=events))
        t += 2_000_000
    run_attrs = {**base, A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.GEN_AI_AGENT_NAME: "writer"}
    run_attrs |= {A.TRIGGER_TYPE: "user", A.TRIGGER_ID: "user-42", A.TAG_PREFIX + "style": "noir"}
    records.append(span(trace_id, run_id, None, "invoke_agent writer", run_attrs, start, t))
    return records


def run_id_of(trace: list[SpanRecord]) -> str:
    return trace[-1].span_id


def strip_run_ids(trace: list[SpanRecord]) -> list[SpanRecord]:
    """The same trace as a foreign instrumentation would send it: parent links only."""
    keep = lambda k: k not in (A.RUN_ID, A.RUN_ROOT_ID, A.RUN_PARENT_ID)  # noqa: E731
    out = []
    for r in trace:
        if A.MARKER in r.attributes:
            continue
        out.append(dataclasses.replace(r, attributes={k: v for k, v in r.attributes.items() if keep(k)}))
    return out
