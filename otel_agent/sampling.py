"""Every run in the tables, whatever the sampler; only sampled traces on to OTLP.

Head sampling (``OTEL_TRACES_SAMPLER=traceidratio``, ``parentbased_*``, ``always_off``, or a sampler
given in code) decides per trace whether it is exported. otel-agent's tables, metrics and run-event logs
are accounts, not samples: a run missing there is a bill missing. So ``instrument()`` wraps the
provider's sampler in ``RecordUnsampledSampler``: a DROP becomes RECORD_ONLY, and the span carries
``otel_agent.trace.unsampled = true``.

What stays as it would be without otel-agent:

* the trace flags: the span stays unsampled, so the ``traceparent`` we send (``-00``) and every
  downstream ParentBased decision are unchanged;
* what the user's exporters get: the SDK's BatchSpanProcessor and SimpleSpanProcessor skip unsampled
  spans in ``on_end``; any other processor the user gave us is wrapped in ``SampledOnlySpanProcessor``,
  which hides the spans only we recorded (a span the user's own sampler chose to RECORD_ONLY still
  reaches it, as before).

What sees the recorded spans: the SQL exporter (``LosslessBatchSpanProcessor`` lets unsampled spans in)
and the processors registered as otel-agent extensions (metrics, run-event logs).

Cost: a dropped span is a NonRecordingSpan (almost free); a recorded one costs what a sampled span
costs, minus the OTLP export (docs/benchmarks.md, "Sampling"). ``OTEL_AGENT_RECORD_UNSAMPLED=false``
turns it off: then the tables, metrics and logs hold only what the sampler records.

Tracers keep the sampler they were created with, so tracers the provider made before ``instrument()``
are switched too, through the provider's tracer registry (a private attribute; if it changes, a warning
says that spans of those older tracers follow the plain sampler).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_agent import attributes as A
from otel_agent.settings import Settings, parse_bool

_log = logging.getLogger(__name__)

RECORD_UNSAMPLED_VARIABLE = "OTEL_AGENT_RECORD_UNSAMPLED"


def record_unsampled_enabled(settings: Settings) -> bool:
    return parse_bool(settings.extra, RECORD_UNSAMPLED_VARIABLE, True)


class RecordUnsampledSampler(Sampler):
    """The user's sampler, with DROP turned into RECORD_ONLY (still unsampled) and marked."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if trace_state is None:  # as the SDK's Tracer calls it: some samplers take no trace_state
            result = self.sampler.should_sample(parent_context, trace_id, name, kind, attributes, links)
        else:
            result = self.sampler.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        if result.decision is not Decision.DROP:
            return result
        # The span's attributes are the result's: the SDK's samplers return none with DROP, so the ones
        # given at start come back from ``attributes`` (and any the sampler added on top of them).
        marked = {**(attributes or {}), **(result.attributes or {}), A.TRACE_UNSAMPLED: True}
        return SamplingResult(Decision.RECORD_ONLY, marked, result.trace_state)

    def get_description(self) -> str:
        return f"RecordUnsampled{{{self.sampler.get_description()}}}"


def record_unsampled(provider: TracerProvider) -> RecordUnsampledSampler:
    """Wrap ``provider``'s sampler (idempotent), also in the tracers it has made already."""
    current = provider.sampler
    if isinstance(current, RecordUnsampledSampler):
        return current
    wrapped = RecordUnsampledSampler(current)
    provider.sampler = wrapped
    lock, tracers = getattr(provider, "_tracers_lock", None), getattr(provider, "_tracers", None)
    if lock is None or not isinstance(tracers, dict):
        _log.warning(
            "otel-agent: cannot reach this TracerProvider's tracers; those made before instrument() "
            "keep the plain sampler, and their unsampled spans will miss the runs tables"
        )
        return wrapped
    with lock:
        for tracer in tracers.values():
            if getattr(tracer, "sampler", None) is current:
                tracer.sampler = wrapped
    return wrapped


def recorded_only_by_us(span: ReadableSpan | Span) -> bool:
    """True for a span that reached processors only because RecordUnsampledSampler recorded it (or a
    run marker of such a run: markers copy the run's trace flags, not its attributes)."""
    context = span.context
    if context is None or context.trace_flags.sampled:
        return False
    attributes = span.attributes or {}
    return bool(attributes.get(A.TRACE_UNSAMPLED)) or A.MARKER in attributes


class SampledOnlySpanProcessor(SpanProcessor):
    """A user's processor, shown exactly the spans it would see without otel-agent."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if not recorded_only_by_us(span):
            self.processor.on_start(span, parent_context)

    def _on_ending(self, span: Span) -> None:
        if not recorded_only_by_us(span):
            self.processor._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        if not recorded_only_by_us(span):
            self.processor.on_end(span)

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)


# These look at the sampled flag themselves (SDK 1.45 on_end): unsampled spans never reach their exporter.
_SKIP_UNSAMPLED = (BatchSpanProcessor, SimpleSpanProcessor)


def for_user(processor: Any) -> SpanProcessor:
    """``processor`` as it may sit downstream of otel-agent: wrapped only if it could see our spans."""
    if type(processor) in _SKIP_UNSAMPLED or isinstance(processor, SampledOnlySpanProcessor):
        return processor
    return SampledOnlySpanProcessor(processor)
