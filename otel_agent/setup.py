"""Set-up for code that configures OpenTelemetry itself: ``configure(...)`` and ``instrument()``.

``instrument()`` takes a TracerProvider (the global one by default) and puts ``EnrichingSpanProcessor``
in front of everything already on it: the processors the provider had become the wrapper's downstream,
so every exporter sees enriched spans. It also adds the extension processors (metrics, ...), installs the
allow-listed baggage propagator when ``OTEL_PROPAGATORS`` is unset, and runs the instrument hooks
(genai capture, ...). It is idempotent: a second call returns the same wrapper.

Processors added to the provider AFTER ``instrument()`` sit beside the wrapper; because the wrapper runs
first and enriches the SDK's end-of-span snapshot in place, they see enriched spans too, but they are not
contained by our guard. Prefer ``otel_agent.add_span_processor(p)``.

Why rewrap the provider's processor list (a private attribute) rather than ask for processors up front:
it works the same for every route the SDK offers: user code, our configurator, opentelemetry-distro's
configurator, and ``OTEL_CONFIG_FILE`` (whose configurator ignores ``span_processors=``). If the SDK's
internals ever change, we fall back to adding the wrapper beside the others and log that exporters will
miss end-time enrichment.

Whatever the sampler, every span is recorded for otel-agent's own consumers (``otel_agent.sampling``):
each processor of the user's is placed behind ``sampling.for_user`` so it sees only what it would see
without us, and a BatchSpanProcessor in front of the SQL exporter becomes lossless
(``exporters/lossless.py``: unsampled spans in, bounded backpressure, spill to the spool).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable

from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_agent.exporters.lossless import wrap_lossless
from otel_agent.extensions import build_span_processors, run_instrument_hooks
from otel_agent.guard import set_log_interval
from otel_agent.processors.enriching import EnrichingSpanProcessor
from otel_agent.propagation import AllowListBaggagePropagator
from otel_agent.sampling import for_user, record_unsampled, record_unsampled_enabled
from otel_agent.settings import Settings

_log = logging.getLogger("otel_agent")
_lock = threading.Lock()


def _existing_wrapper(provider: TracerProvider) -> EnrichingSpanProcessor | None:
    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()):
        if isinstance(processor, EnrichingSpanProcessor):
            return processor
    return None


def _downstream(processor: SpanProcessor, settings: Settings) -> SpanProcessor:
    """A user's processor as it sits behind enrichment: the SQL exporter's batch processor lossless,
    any other shown only the spans it would see without otel-agent (when unsampled spans are recorded)."""
    lossless = wrap_lossless(processor, settings)
    if lossless is not processor or not record_unsampled_enabled(settings):
        return lossless
    return for_user(processor)


def _wrap_existing(provider: TracerProvider, wrapper: EnrichingSpanProcessor) -> None:
    """Make ``wrapper`` the provider's only processor, wrapping those it had."""
    multi = getattr(provider, "_active_span_processor", None)
    existing = getattr(multi, "_span_processors", None)
    lock = getattr(multi, "_lock", None)
    if not isinstance(existing, tuple) or lock is None:
        _log.warning(
            "otel-agent: cannot wrap this TracerProvider's processors; exporters added before "
            "instrument() will not see end-time enrichment"
        )
        provider.add_span_processor(wrapper)
        return
    with lock:
        for processor in multi._span_processors:  # type: ignore[union-attr]
            wrapper.add_downstream(_downstream(processor, wrapper.settings))
        multi._span_processors = (wrapper,)  # type: ignore[union-attr]


def install_propagator(settings: Settings) -> bool:
    """tracecontext + allow-listed baggage, unless the user chose propagators (OTEL_PROPAGATORS or a
    declarative OTEL_CONFIG_FILE); a chosen standard ``baggage`` propagator gets a warning about leaks."""
    if os.environ.get("OTEL_CONFIG_FILE"):
        return False  # declarative configuration: the file's `propagator` section decides
    chosen = os.environ.get("OTEL_PROPAGATORS")
    if chosen:
        if "baggage" in [p.strip() for p in chosen.split(",")]:
            _log.warning(
                "otel-agent: OTEL_PROPAGATORS includes 'baggage', which sends attribution to "
                "every host; use 'otel_agent_baggage' to limit it to OTEL_AGENT_PROPAGATE_HOSTS"
            )
        return False
    propagate.set_global_textmap(
        CompositePropagator(
            [TraceContextTextMapPropagator(), AllowListBaggagePropagator(settings.propagate_hosts)]
        )
    )
    return True


def instrument(
    tracer_provider: TracerProvider | None = None, settings: Settings | None = None
) -> EnrichingSpanProcessor | None:
    """Put otel-agent in front of a TracerProvider's processors (idempotent). None when disabled or when
    there is no SDK TracerProvider to instrument (a warning says which)."""
    settings = settings or Settings.from_env()
    if not settings.enabled:
        return None
    provider = tracer_provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        _log.warning("otel-agent: no SDK TracerProvider to instrument (found %s)", type(provider).__name__)
        return None
    set_log_interval(settings.error_log_interval_s)
    with _lock:
        wrapper = _existing_wrapper(provider)
        if wrapper is not None:
            return wrapper
        wrapper = EnrichingSpanProcessor(settings=settings)
        _wrap_existing(provider, wrapper)
        for processor in build_span_processors(settings):
            wrapper.add_downstream(processor)  # our extensions see every recorded span
        if record_unsampled_enabled(settings):
            record_unsampled(provider)
    install_propagator(settings)
    run_instrument_hooks(settings)
    return wrapper


def configure(
    *,
    exporters: Iterable[SpanExporter] = (),
    processors: Iterable[SpanProcessor] = (),
    tracer_provider: TracerProvider | None = None,
    resource: Resource | None = None,
    settings: Settings | None = None,
    set_global: bool = True,
) -> EnrichingSpanProcessor | None:
    """Build (or reuse) a TracerProvider with ``processors`` and a BatchSpanProcessor per exporter, all
    downstream of enrichment. ``Resource.create`` honours OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES."""
    provider = tracer_provider or TracerProvider(resource=resource or Resource.create())
    if set_global and tracer_provider is None:
        trace.set_tracer_provider(provider)
    wrapper = instrument(provider, settings)
    added = [*processors, *(BatchSpanProcessor(exporter) for exporter in exporters)]
    for processor in added:
        if wrapper is not None:
            wrapper.add_downstream(_downstream(processor, wrapper.settings))
        else:  # otel-agent disabled: the user's exporters still work, unenriched
            provider.add_span_processor(processor)
    return wrapper


def add_span_processor(processor: SpanProcessor, tracer_provider: TracerProvider | None = None) -> bool:
    """Add a processor downstream of enrichment on an instrumented provider; False if none is."""
    provider = tracer_provider or trace.get_tracer_provider()
    wrapper = _existing_wrapper(provider) if isinstance(provider, TracerProvider) else None
    if wrapper is None:
        return False
    wrapper.add_downstream(_downstream(processor, wrapper.settings))
    return True
