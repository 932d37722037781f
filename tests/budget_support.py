"""Test set-up for budgets: a fresh global TracerProvider (agent_run uses the global one) with the real
processors, the genai capture on the same provider, and the fake provider's URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from otel_agent import attributes as A
from otel_agent import genai
from otel_agent.budget import ledger
from otel_agent.fakeprovider import FakeProvider
from otel_agent.settings import Settings
from tests.otel_capture import Captured, install, reset_global_tracer_provider


@dataclass
class BudgetRig:
    fake: FakeProvider
    cap: Captured

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.fake.url + "/openai/v1", api_key="sk-test", **kwargs)

    def async_openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.fake.url + "/openai/v1", api_key="sk-test", max_retries=0)

    def anthropic(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        url = self.fake.url + "/anthropic"
        return anthropic.Anthropic(base_url=url, api_key="k", open_telemetry={"traces": False}, **kwargs)

    def async_anthropic(self) -> anthropic.AsyncAnthropic:
        url = self.fake.url + "/anthropic"
        return anthropic.AsyncAnthropic(
            base_url=url, api_key="k", max_retries=0, open_telemetry={"traces": False}
        )

    def sent(self) -> int:
        """How many requests reached the fake provider."""
        return len(self.fake.requests)

    def refused_spans(self) -> list[ReadableSpan]:
        return [s for s in self.llm_spans() if (s.attributes or {}).get(A.ERROR_CATEGORY) == "budget"]

    def llm_spans(self) -> list[ReadableSpan]:
        ops = A.LLM_OPERATIONS
        return [s for s in self.cap.spans() if (s.attributes or {}).get(A.GEN_AI_OPERATION_NAME) in ops]


@contextmanager
def budget_rig(
    fake: FakeProvider, extra: list[SpanProcessor] | None = None, **settings: Any
) -> Iterator[BudgetRig]:
    fake.requests.clear()
    cap = install(Settings(markers=False, heartbeat_interval_s=0, **settings))
    for processor in extra or []:
        cap.wrapper.add_downstream(processor)
    base_urls = {fake.url + "/openai": "openai", fake.url + "/anthropic": "anthropic"}
    genai.instrument(tracer_provider=cap.provider, base_urls=base_urls)
    try:
        yield BudgetRig(fake, cap)
    finally:
        genai.uninstrument()
        cap.provider.shutdown()
        reset_global_tracer_provider()
        ledger.configure(Settings())  # no rules leak into the next test
        assert not ledger.RUNS, "every budgeted run left the ledger when it closed"
