"""Google Gemini (generativelanguage) and Vertex AI generateContent / streamGenerateContent.

``thoughtsTokenCount`` is outside ``candidatesTokenCount``; semconv counts reasoning inside output, so output
is candidates + thoughts. Stream chunks carry cumulative usage, so the last chunk is the answer.
"""

from __future__ import annotations

from typing import Any

from otel_agent.genai import detailprice
from otel_agent.genai.facts import CallFacts, TokenCounts, add, as_int
from otel_agent.genai.wire import Wire


def gemini_usage(meta: Any) -> TokenCounts | None:
    if not isinstance(meta, dict):
        return None
    thoughts = as_int(meta.get("thoughtsTokenCount"))
    candidates = as_int(meta.get("candidatesTokenCount"))
    prompt = as_int(meta.get("promptTokenCount"))
    tool_prompt = as_int(meta.get("toolUsePromptTokenCount"))  # billed as input, outside promptTokenCount
    return TokenCounts(
        input_tokens=add(prompt, tool_prompt) if prompt is not None else None,
        output_tokens=add(candidates, thoughts),
        cache_read_tokens=as_int(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


_DETAILS = ("promptTokensDetails", "cacheTokensDetails", "candidatesTokensDetails")


def has_details(meta: dict[str, Any]) -> bool:
    """Usage that flat rates cannot price: tokens of another modality than text, or tool-use prompt tokens
    (genai-prices prices each at its own rate)."""
    if meta.get("toolUsePromptTokenCount"):
        return True
    for key in _DETAILS:
        details = meta.get(key)
        if isinstance(details, list):
            for part in details:
                if (
                    isinstance(part, dict)
                    and part.get("modality", "TEXT") != "TEXT"
                    and part.get("tokenCount")
                ):
                    return True
    return False


def read_body(body: Any, facts: CallFacts) -> None:
    if isinstance(body, list):  # streamGenerateContent without alt=sse returns a JSON array of chunks
        for chunk in body:
            read_body(chunk, facts)
        return
    if not isinstance(body, dict):
        return
    if isinstance(body.get("modelVersion"), str):
        facts.response_model = body["modelVersion"]
    if isinstance(body.get("responseId"), str):
        facts.response_id = body["responseId"]
    meta = body.get("usageMetadata")
    usage = gemini_usage(meta)
    if usage is not None:
        facts.usage = usage
        if isinstance(meta, dict) and has_details(meta):
            detailprice.keep(facts, "default", body)
    candidates = body.get("candidates")
    if isinstance(candidates, list):
        for position, candidate in enumerate(candidates):
            if isinstance(candidate, dict):
                index = candidate.get("index", position)
                facts.set_finish_reason(
                    index if isinstance(index, int) else position, candidate.get("finishReason")
                )
    if isinstance(body.get("error"), dict):
        facts.error_type = str(body["error"].get("status") or "stream_error")


def read_event(event: str | None, data: Any, facts: CallFacts) -> None:
    read_body(data, facts)


GENERATE_CONTENT = Wire(
    name="gemini.generate_content",
    read_body=read_body,
    read_event=read_event,
    # Usage is cumulative and the last chunk is always decoded; only finish reasons and errors matter mid-way.
    tail_events=2,  # the last chunk has the final usage and finish reason
)
