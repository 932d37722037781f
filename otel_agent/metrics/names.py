"""Metric names, units, descriptions and bucket boundaries: docs/metrics.md documents each one.

GenAI client metrics follow the semantic conventions (names, units, recommended buckets); everything else
is ours, under ``otel_agent.``. Prometheus names follow from these by the Collector's translation.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from otel_agent import attributes as A


class Spec(NamedTuple):
    """One instrument: its name, unit, description and (for histograms) bucket advisory."""

    name: str
    unit: str
    description: str
    buckets: tuple[float, ...] | None = None


# Semconv recommended boundaries (gen_ai.client.* metrics).
TOKEN_BUCKETS: Final = tuple(4**i for i in range(14))  # 1, 4, 16, ... 67108864
DURATION_BUCKETS: Final = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01, 0.02, ... 81.92
# Ours: agent runs last seconds to hours; iteration counts grow roughly like Fibonacci numbers.
RUN_DURATION_BUCKETS: Final = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
PER_RUN_COUNT_BUCKETS: Final = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987)

TOKEN_USAGE = Spec("gen_ai.client.token.usage", "{token}", "Tokens used per LLM call", TOKEN_BUCKETS)
OPERATION_DURATION = Spec("gen_ai.client.operation.duration", "s", "LLM call duration", DURATION_BUCKETS)
TIME_TO_FIRST_CHUNK = Spec(
    "gen_ai.client.operation.time_to_first_chunk", "s", "Time to the first stream chunk", DURATION_BUCKETS
)
TOKENS = Spec("otel_agent.tokens", "{token}", "Tokens by type (cache and reasoning are inside input/output)")
COST = Spec("otel_agent.cost.usd", "{USD}", "Cost of LLM calls in US dollars")
CREDITS = Spec("otel_agent.cost.credits", "{credit}", "Cost of LLM calls in the product's credits (if on)")
UNPRICED_CALLS = Spec("otel_agent.llm.unpriced_calls", "{call}", "LLM calls of a model with no known price")
RUNS_STARTED = Spec("otel_agent.runs.started", "{run}", "Agent runs started")
RUNS_FINISHED = Spec("otel_agent.runs.finished", "{run}", "Agent runs finished, by status")
RUN_DURATION = Spec("otel_agent.run.duration", "s", "Agent run duration", RUN_DURATION_BUCKETS)
RUN_LLM_CALLS = Spec("otel_agent.run.llm_calls", "{call}", "LLM calls per run", PER_RUN_COUNT_BUCKETS)
RUN_STEPS = Spec("otel_agent.run.steps", "{step}", "LLM and tool calls per run", PER_RUN_COUNT_BUCKETS)
RUNS_IN_FLIGHT = Spec("otel_agent.runs.in_flight", "{run}", "Runs started and not yet ended")
RUNS_OLDEST_AGE = Spec("otel_agent.runs.in_flight.oldest_age", "s", "Age of the oldest run still in flight")
RUNS_STALLED = Spec("otel_agent.runs.stalled", "{run}", "Runs the store's sweep declared stalled")
HEARTBEAT_TIME = Spec("otel_agent.worker.heartbeat.time", "s", "Unix time of the last run marker emitted")
SPANS_DROPPED = Spec("otel_agent.pipeline.spans.dropped", "{span}", "Spans our pipeline dropped")
SPANS_SPOOLED = Spec("otel_agent.pipeline.spans.spooled", "{span}", "Spans our pipeline spooled to disk")
OVERFLOW = Spec("otel_agent.metrics.overflow", "{measurement}", "Measurements folded into the other series")
INTERNAL_FAILURES = Spec("otel_agent.internal.failures", "{failure}", "Failures otel-agent contained")

# Label groups (attribute names). Values are positional in samples, in these orders.
MODEL_LABELS: Final = (
    A.GEN_AI_OPERATION_NAME,
    A.GEN_AI_PROVIDER_NAME,
    A.GEN_AI_REQUEST_MODEL,
    A.GEN_AI_RESPONSE_MODEL,
)
ATTRIBUTION_LABELS: Final = (A.PROJECT, A.STAGE, A.AGENT_ROLE, A.GEN_AI_AGENT_NAME)
# Labels whose values come from a fixed vocabulary: the cardinality guard never folds them.
ENUMERATED_LABELS: Final = frozenset(
    {A.GEN_AI_TOKEN_TYPE, A.RUN_STATUS, A.ERROR_CATEGORY, A.GEN_AI_OPERATION_NAME, A.COMPONENT, A.METRIC}
)
OTHER: Final = "other"
MAX_LABEL_CHARS: Final = 128
