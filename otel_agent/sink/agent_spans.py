"""Which decoded spans the sink materialises: those that belong to an agent run (the default).

A span belongs to an agent run when it carries agent attributes itself (the GenAI conventions, ours, or
the OpenInference / OpenLLMetry spellings), when another span of its trace in the same batch does, or
when the store already holds a run of its trace. Everything else (a service's HTTP and database spans,
telemetrygen's load) would only become steps with no run, which nothing reads and which the orphan sweep
would keep looking at; they are counted as skipped instead. OTEL_AGENT_SINK_KEEP_NON_AGENT_SPANS=true
keeps them all. A plain child span that arrives in an earlier batch than every agent span of its trace
(a non-Python agent without run markers) is skipped too: the price of not storing every span of a
service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otel_agent.record import SpanRecord

AGENT_PREFIXES = ("gen_ai.", "otel_agent.", "llm.", "traceloop.", "openinference.")
KnownTraces = Callable[[set[str]], set[str]]  # trace ids -> those the store has a run of


def is_agent_span(record: SpanRecord) -> bool:
    return any(key.startswith(AGENT_PREFIXES) for key in record.attributes)


def agent_spans(records: Sequence[SpanRecord], known_traces: KnownTraces) -> list[SpanRecord]:
    """The records that belong to an agent run, in their order."""
    traces = {r.trace_id for r in records if is_agent_span(r)}
    others = {r.trace_id for r in records} - traces
    if others:
        traces |= known_traces(others)
    return [r for r in records if r.trace_id in traces]
