"""Cost of a budget check on a call that is under budget (issue 17, goal: at most 5 us per call).

Two figures, both interleaved in one process (ABBA rounds, median), CPU time (time.process_time):

1. the check alone: ``before_call`` on a real chat request body with ``max_tokens`` inside a run with a
   budget, against the same call with no budget in the context (one context lookup);
2. a whole LLM call through a real ``httpx.Client`` (MockTransport, so no server CPU), the genai capture and
   the enriching processor, inside ``agent_run(budget_usd=...)`` against ``agent_run()``: the check at
   send time plus the spend added when the call's span ends.

The machine running this may be shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench.bench_genai import NoOpExporter
from otel_agent import agent_run, genai
from otel_agent.budget.check import before_call
from otel_agent.fakeprovider import replies
from otel_agent.processors import EnrichingSpanProcessor
from otel_agent.settings import Settings

URL = "https://api.openai.com/v1/chat/completions"
# In the openai SDK's key order (the messages first, the cap after them): the cap is found from the end.
BODY = json.dumps(
    {"messages": [{"role": "user", "content": "Say hello " * 200}], "model": "gpt-4o", "max_tokens": 512}
).encode()
ROUNDS = 9
CHECKS = 50_000
CALLS = 1_000
GOAL_US = 5.0


def per_op(work: Callable[[], None], count: int) -> float:
    gc.collect()
    start = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - start) / count


def interleaved(plain: Callable[[], float], budgeted: Callable[[], float]) -> tuple[float, float, float]:
    """Median (plain, budgeted, budgeted - plain) seconds per op over ABBA-ordered rounds."""
    a, b, added = [], [], []
    for round_no in range(ROUNDS):
        pair = {}
        for on in (False, True) if round_no % 2 == 0 else (True, False):
            pair[on] = (budgeted if on else plain)()
        a.append(pair[False])
        b.append(pair[True])
        added.append(pair[True] - pair[False])
    return statistics.median(a), statistics.median(b), statistics.median(added)


def check_alone(tracer: trace.Tracer) -> tuple[float, float, float]:
    def check() -> None:
        before_call(tracer, BODY, "openai", "chat", "gpt-4o")

    def inside(budget: float | None) -> float:
        with agent_run("bench", budget_usd=budget):
            return per_op(check, CHECKS)

    return interleaved(lambda: inside(None), lambda: inside(1e12))


def whole_call() -> tuple[float, float, float]:
    reply = replies.openai_chat("gpt-4o")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=reply.headers, content=reply.body)

    client = httpx.Client(transport=httpx.MockTransport(handler))

    def call() -> None:
        client.post(URL, content=BODY, headers={"content-type": "application/json"})

    def inside(budget: float | None) -> float:
        with agent_run("bench", budget_usd=budget):
            return per_op(call, CALLS)

    return interleaved(lambda: inside(None), lambda: inside(1e12))


def main() -> None:
    provider = TracerProvider()
    settings = Settings(markers=False, heartbeat_interval_s=0)
    provider.add_span_processor(
        EnrichingSpanProcessor([SimpleSpanProcessor(NoOpExporter())], settings=settings)
    )
    trace.set_tracer_provider(provider)
    genai.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("bench")
    before_call(tracer, BODY, "openai", "chat", "gpt-4o")  # warm the price cache
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        plain, budgeted, added = check_alone(tracer)
        print(f"load average {load} (shared machine: figures are noisy; ratios come from interleaved rounds)")
        print(
            f"check alone      no budget {plain * 1e6:6.2f} us  under budget {budgeted * 1e6:6.2f} us  "
            f"added {added * 1e6:5.2f} us  (goal <= {GOAL_US} us)"
        )
        plain, budgeted, added = whole_call()
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"whole LLM call   no budget {plain * 1e6:6.1f} us  under budget {budgeted * 1e6:6.1f} us  "
            f"ratio {budgeted / plain:.3f}  added {added * 1e6:5.2f} us  (load {load})"
        )
    finally:
        genai.uninstrument()
        provider.shutdown()


if __name__ == "__main__":
    main()
