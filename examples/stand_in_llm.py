"""A stand-in for a real LLM client: makes a GenAI call span with usage, like an SDK instrumentation would.

The pipeline only needs ``llm.chat(provider=..., model=..., prompt=...) -> str``; swap this class for a
real SDK client (pointed at a fake provider server) and nothing else in the pipeline changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from otel_agent import attributes as A


class RateLimitError(Exception):
    """What a provider SDK raises on HTTP 429."""


@dataclass
class StandInLLM:
    """Deterministic answers; the first call to ``fail_first_call_of`` fails with a 429 (then succeeds)."""

    fail_first_call_of: str | None = None
    calls: list[str] = field(default_factory=list)

    def chat(self, *, provider: str, model: str, prompt: str, attempt: int = 0) -> str:
        tracer = trace.get_tracer("examples.stand_in_llm")
        attrs = {
            A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
            A.GEN_AI_PROVIDER_NAME: provider,
            A.GEN_AI_REQUEST_MODEL: model,
            A.RETRY_ATTEMPT: attempt,
        }
        with tracer.start_as_current_span(
            f"chat {model}", kind=trace.SpanKind.CLIENT, attributes=attrs
        ) as span:
            first_call = model not in self.calls
            self.calls.append(model)
            if first_call and model == self.fail_first_call_of:
                span.set_attributes({A.HTTP_RESPONSE_STATUS_CODE: 429, A.ERROR_TYPE: "RateLimitError"})
                span.set_status(Status(StatusCode.ERROR, "429 Too Many Requests: rate_limit_exceeded"))
                raise RateLimitError(f"{provider} {model}: 429 rate_limit_exceeded")
            words = len(prompt.split())
            span.set_attributes(
                {
                    A.GEN_AI_RESPONSE_MODEL: model,
                    A.GEN_AI_USAGE_INPUT_TOKENS: 400 + 13 * words,
                    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 256 if words > 3 else 0,
                    A.GEN_AI_USAGE_OUTPUT_TOKENS: 150 + 7 * words,
                    A.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
                }
            )
            return f"[{model}] answer to: {prompt[:40]}"
