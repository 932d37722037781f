"""OpenAI wire formats and the OpenAI-compatible family (Azure, Groq, DeepSeek, xAI, OpenRouter, Mistral,
Ollama's /v1): chat completions, the Responses API and embeddings, JSON and SSE."""

from __future__ import annotations

from typing import Any

from otel_agent.genai import detailprice
from otel_agent.genai.facts import CallFacts, TokenCounts, as_int, dig
from otel_agent.genai.wire import Wire


def chat_usage(usage: Any) -> TokenCounts | None:
    """Chat/embeddings usage: prompt_tokens already include cached tokens (semconv agrees)."""
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details")
    cache_read = as_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None
    if cache_read is None:  # DeepSeek names its cache hits differently
        cache_read = as_int(usage.get("prompt_cache_hit_tokens"))
    output_details = usage.get("completion_tokens_details")
    reasoning = as_int(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else None
    prompt, completion = as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
    # Positional (input, output, cache read, cache creation, reasoning): a keyword call costs 2k more.
    return TokenCounts(prompt, completion, cache_read, None, reasoning)


def _audio(usage: Any) -> bool:
    """Audio tokens (gpt-4o-audio and friends), priced by genai-prices at their own rates."""
    return bool(
        as_int(dig(usage, "prompt_tokens_details", "audio_tokens"))
        or as_int(dig(usage, "completion_tokens_details", "audio_tokens"))
    )


def _read_chat_common(data: dict[str, Any], facts: CallFacts) -> None:
    model, response_id = data.get("model"), data.get("id")
    if model and isinstance(model, str):
        facts.response_model = model
    if response_id and isinstance(response_id, str):
        facts.response_id = response_id
    usage = chat_usage(data.get("usage")) or chat_usage(dig(data, "x_groq", "usage"))
    if usage is not None:
        facts.usage = usage
        if _audio(data.get("usage")):
            detailprice.keep(facts, "chat", data)
    choices = data.get("choices")
    if isinstance(choices, list):
        for position, choice in enumerate(choices):
            if isinstance(choice, dict):
                index = choice.get("index", position)
                facts.set_finish_reason(
                    index if isinstance(index, int) else position, choice.get("finish_reason")
                )


def read_chat_body(body: Any, facts: CallFacts) -> None:
    if isinstance(body, dict):
        _read_chat_common(body, facts)


def read_chat_event(event: str | None, data: Any, facts: CallFacts) -> None:
    if isinstance(data, dict):
        _read_chat_common(data, facts)
        if isinstance(data.get("error"), dict):  # an error sent mid-stream
            facts.error_type = str(data["error"].get("code") or data["error"].get("type") or "stream_error")


CHAT = Wire(
    name="openai.chat",
    read_body=read_chat_body,
    read_event=read_chat_event,
    tail_events=5,  # finish chunk(s), the usage chunk, [DONE]; more than 3 choices may lose reasons
)


def responses_usage(usage: Any) -> TokenCounts | None:
    if not isinstance(usage, dict):
        return None
    return TokenCounts(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cache_read_tokens=as_int(dig(usage, "input_tokens_details", "cached_tokens")),
        reasoning_tokens=as_int(dig(usage, "output_tokens_details", "reasoning_tokens")),
    )


def _read_response_object(resp: Any, facts: CallFacts) -> None:
    if not isinstance(resp, dict):
        return
    if isinstance(resp.get("model"), str):
        facts.response_model = resp["model"]
    if isinstance(resp.get("id"), str):
        facts.response_id = resp["id"]
    usage = responses_usage(resp.get("usage"))
    if usage is not None:
        facts.usage = usage
    status = resp.get("status")
    if status in ("completed", "incomplete", "failed", "cancelled"):
        reason = dig(resp, "incomplete_details", "reason") if status == "incomplete" else status
        facts.set_finish_reason(0, reason or status)
    if status == "failed" and isinstance(resp.get("error"), dict):
        facts.error_type = str(resp["error"].get("code") or "response_failed")


def read_responses_event(event: str | None, data: Any, facts: CallFacts) -> None:
    if isinstance(data, dict):
        _read_response_object(data.get("response"), facts)
        if data.get("type") == "error":
            facts.error_type = str(data.get("code") or "stream_error")


RESPONSES = Wire(
    name="openai.responses",
    read_body=_read_response_object,
    read_event=read_responses_event,
    tail_events=3,  # response.completed / incomplete / failed (or an error event) ends the stream
)

EMBEDDINGS = Wire(
    name="openai.embeddings",
    read_body=read_chat_body,
    read_event=read_chat_event,
    tail_events=CHAT.tail_events,
)
