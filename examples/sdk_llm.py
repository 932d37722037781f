"""The pipeline's LLM client made of the real openai and anthropic SDKs, talking to the fake provider.

No span code here: otel_agent.genai sees the SDKs' HTTP traffic and makes the GenAI call spans (tokens,
cost, errors, retries) by itself. ``demo.py`` starts the fake provider and maps its URLs to providers.
"""

from __future__ import annotations

from dataclasses import replace

import anthropic
import openai

from examples.stand_in_llm import RateLimitError
from otel_agent import genai
from otel_agent.fakeprovider import FakeProvider, replies

_RETRY_SOON = {"retry-after-ms": "20"}


class SdkLLM:
    """``chat(provider=, model=, prompt=)`` through openai (OpenAI, Ollama's OpenAI API) or anthropic."""

    def __init__(self, fake: FakeProvider) -> None:
        # The SDKs retry a 429 themselves; each attempt becomes its own span (otel_agent.retry.attempt).
        self._openai = openai.OpenAI(base_url=fake.url + "/openai/v1", api_key="demo", max_retries=2)
        self._ollama = openai.OpenAI(base_url=fake.url + "/ollama/v1", api_key="demo", max_retries=2)
        # The anthropic SDK's own call span is off so each attempt shows as its own span (a retried 429 gets
        # a failure row); left on, otel-agent would enrich that one span instead (docs/genai.md).
        self._anthropic = anthropic.Anthropic(
            base_url=fake.url + "/anthropic", api_key="demo", max_retries=2, open_telemetry={"traces": False}
        )

    def chat(self, *, provider: str, model: str, prompt: str, attempt: int = 0) -> str:
        messages = [{"role": "user", "content": prompt}]
        try:
            if provider == "anthropic":
                reply = self._anthropic.messages.create(model=model, max_tokens=512, messages=messages)  # type: ignore[arg-type]
                return "".join(block.text for block in reply.content if block.type == "text")
            client = self._ollama if provider == "ollama" else self._openai
            chat = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            return chat.choices[0].message.content or ""
        except (openai.RateLimitError, anthropic.RateLimitError) as exc:
            raise RateLimitError(str(exc)) from exc


def start_fake_provider() -> FakeProvider:
    """The fake provider, with the first Anthropic call rate-limited, and the capture pointed at it."""
    fake = FakeProvider().start()
    limited = replies.anthropic_error("rate_limit")
    fake.script(replace(limited, headers={**limited.headers, **_RETRY_SOON}), path_contains="/anthropic/")
    genai.instrument(
        base_urls={
            fake.url + "/openai": "openai",
            fake.url + "/ollama": "ollama",
            fake.url + "/anthropic": "anthropic",
        }
    )
    return fake
