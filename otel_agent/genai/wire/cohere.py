"""Cohere v2 chat (JSON and SSE) and embed.

Responses name no model: the request's model stands. TokenCounts is taken from ``billed_units`` (what is paid
for); ``tokens`` (which also counts the provider's own prompt template) is ignored.
"""

from __future__ import annotations

from typing import Any

from otel_agent.genai.facts import CallFacts, TokenCounts, as_int, dig
from otel_agent.genai.wire import Wire


def cohere_usage(usage: Any) -> TokenCounts | None:
    billed = dig(usage, "billed_units")
    if not isinstance(billed, dict):
        return None
    billed_input = as_int(billed.get("input_tokens"))
    cached = as_int(usage.get("cached_tokens"))  # prompt tokens served from Cohere's cache
    if cached is not None and billed_input is not None and cached > billed_input:
        cached = billed_input  # counted against the template-inclusive total: keep it inside the billed input
    return TokenCounts(billed_input, as_int(billed.get("output_tokens")), cached)


def read_body(body: Any, facts: CallFacts) -> None:
    if not isinstance(body, dict):
        return
    if isinstance(body.get("id"), str):
        facts.response_id = body["id"]
    facts.set_finish_reason(0, body.get("finish_reason"))
    usage = cohere_usage(body.get("usage")) or cohere_usage(body.get("meta"))
    if usage is not None:
        facts.usage = usage


def read_event(event: str | None, data: Any, facts: CallFacts) -> None:
    if not isinstance(data, dict):
        return
    kind = data.get("type") or event
    if kind == "message-start" and isinstance(data.get("id"), str):
        facts.response_id = data["id"]
    elif kind == "message-end":
        facts.set_finish_reason(0, dig(data, "delta", "finish_reason"))
        usage = cohere_usage(dig(data, "delta", "usage"))
        if usage is not None:
            facts.usage = usage


V2 = Wire(
    name="cohere.v2",
    read_body=read_body,
    read_event=read_event,
    tail_events=3,  # message-end, [DONE]
)
