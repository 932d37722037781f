"""Ollama's native API (/api/chat, /api/generate, /api/embed): JSON, or NDJSON when streaming."""

from __future__ import annotations

from typing import Any

from otel_agent.genai.facts import CallFacts, TokenCounts, as_int
from otel_agent.genai.wire import Wire


def read_body(body: Any, facts: CallFacts) -> None:
    if not isinstance(body, dict):
        return
    if isinstance(body.get("model"), str):
        facts.response_model = body["model"]
    if body.get("done") is True:
        facts.set_finish_reason(0, body.get("done_reason") or "stop")
    prompt = as_int(body.get("prompt_eval_count"))
    output = as_int(body.get("eval_count"))
    if prompt is not None or output is not None:
        facts.usage = TokenCounts(input_tokens=prompt, output_tokens=output)
    if isinstance(body.get("error"), str):
        facts.error_type = "ollama_error"


def read_event(event: str | None, data: Any, facts: CallFacts) -> None:
    read_body(data, facts)


NATIVE = Wire(
    name="ollama",
    read_body=read_body,
    read_event=read_event,
    tail_events=2,  # the last line has done: true and the counts
    ndjson=True,
)
