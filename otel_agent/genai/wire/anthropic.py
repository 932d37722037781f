"""Anthropic Messages API, JSON and SSE.

Anthropic's ``input_tokens`` EXCLUDE cache reads and writes; semconv's include them, so they are added.
In streams, ``message_start`` carries the input side and ``message_delta`` the final output tokens (newer
API versions repeat every field there, which then wins).
"""

from __future__ import annotations

from typing import Any

from otel_agent.genai import detailprice
from otel_agent.genai.facts import CallFacts, TokenCounts, add, as_int, dig
from otel_agent.genai.wire import Wire

_raw_fields = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _merge_raw(facts: CallFacts, usage: Any) -> None:
    """Keep the provider's raw fields (set-only) so a later event can complete an earlier one."""
    if not isinstance(usage, dict):
        return
    raw = facts.state.setdefault("anthropic_usage", {})
    for name in _raw_fields:
        value = as_int(usage.get(name))
        if value is not None:
            raw[name] = value
    creation = usage.get("cache_creation")  # 5-minute and one-hour writes, priced apart by genai-prices
    if isinstance(creation, dict) and as_int(creation.get("ephemeral_1h_input_tokens")):
        raw["cache_creation"] = creation
        detailprice.keep(facts, "default", {"usage": raw})  # raw is completed by later stream events
    cache_read = raw.get("cache_read_input_tokens")
    cache_creation = raw.get("cache_creation_input_tokens")
    facts.usage = TokenCounts(
        input_tokens=add(raw.get("input_tokens"), cache_read, cache_creation)
        if "input_tokens" in raw
        else None,
        output_tokens=raw.get("output_tokens"),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=as_int(dig(usage, "output_tokens_details", "thinking_tokens")),
    )


def _read_message(message: Any, facts: CallFacts) -> None:
    if not isinstance(message, dict):
        return
    if isinstance(message.get("model"), str):
        facts.response_model = message["model"]
    if isinstance(message.get("id"), str):
        facts.response_id = message["id"]
    facts.set_finish_reason(0, message.get("stop_reason"))
    _merge_raw(facts, message.get("usage"))


def read_body(body: Any, facts: CallFacts) -> None:
    _read_message(body, facts)


def read_event(event: str | None, data: Any, facts: CallFacts) -> None:
    if not isinstance(data, dict):
        return
    kind = data.get("type") or event
    if kind == "message_start":
        _read_message(data.get("message"), facts)
    elif kind == "message_delta":
        facts.set_finish_reason(0, dig(data, "delta", "stop_reason"))
        _merge_raw(facts, data.get("usage"))
    elif kind == "error":
        error = data.get("error")
        facts.error_type = str(dig(error, "type") or "stream_error")


MESSAGES = Wire(
    name="anthropic.messages",
    read_body=read_body,
    read_event=read_event,
    tail_events=3,  # message_delta, message_stop (or an error event)
)
