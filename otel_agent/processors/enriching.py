"""The one outermost span processor: enrich at start and end, then hand spans to the processors it wraps.

The SDK freezes attributes before ``on_end``, so end-time enrichment gives the span snapshot the SDK made
for ``on_end`` a new attribute dict (only when there is something to add: a plain span passes through
untouched; see ``with_attributes`` for why that snapshot may be changed in place) and gives that same
object to every wrapped processor, so every exporter and the metrics processor see identical, enriched
spans. The wrapper must therefore be the provider's first processor: ``instrument()`` makes it the only one.

Fail open: if enrichment raises, the original span still goes downstream (marked with
``ENRICHMENT_ERROR`` when possible); a wrapped processor that raises is contained, counted and logged
(rate-limited) and the others still run. Under pytest failures re-raise (see ``otel_agent.guard``).
"""

from __future__ import annotations

import dis
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from otel_agent import attributes as A
from otel_agent.budget import ledger as budgets
from otel_agent.credits import CreditBook
from otel_agent.guard import contain, guard, record_failure
from otel_agent.pricing import PriceBook
from otel_agent.processors.attribution import AttributionSpanProcessor, is_run, span_id_hex
from otel_agent.processors.cleancost import CleanRates, clean_cost
from otel_agent.processors.enrich import error_category, run_status, usage_and_cost
from otel_agent.processors.markers import RunMarkers
from otel_agent.processors.rollup import RunRollup, contribution, exchange_kind, exchange_node
from otel_agent.settings import Settings


def attribute_dict(span: ReadableSpan) -> Mapping[str, Any]:
    """A span's attributes as a plain mapping, for reading only.

    The SDK keeps them in a BoundedAttributes (an abc Mapping whose every lookup runs Python code) behind
    a MappingProxyType; its backing dict is several times faster to read, which matters on the hot path.
    A span we enriched already holds a plain dict. Falls back to a copy if the SDK's internals differ."""
    try:
        inner = span._attributes._dict  # type: ignore[union-attr]
    except AttributeError:
        inner = getattr(span, "_attributes", None)
    if isinstance(inner, dict):
        return inner
    return dict(span.attributes or {})


_ERROR = StatusCode.ERROR
_LLM_OPS = A.LLM_OPERATIONS


def status_code(span: ReadableSpan) -> StatusCode:
    """A span's status code, read from the SDK's fields (two property calls less); public API otherwise."""
    try:
        return span._status._status_code
    except AttributeError:
        return span.status.status_code


def with_attributes(span: ReadableSpan, added: Mapping[str, Any]) -> ReadableSpan:
    """``span`` with ``added`` merged into its attributes: a plain ReadableSpan is updated IN PLACE.

    Why in place: ``Span.end()`` (SDK 1.45) hands ``on_end`` a fresh snapshot built by
    ``Span._readable_span()`` for the processor chain alone; the live span keeps its own attributes
    object, which we never touch. EnrichingSpanProcessor is the provider's only processor (``instrument()``
    makes it so) and hands the snapshot on only after this returns, so nobody has seen it yet: rebinding
    its one attribute mapping costs a fraction of copying the span. Invariant for callers: pass only a
    ReadableSpan nobody else holds. Anything else (a live ``Span``, a subclass) is copied.

    The merged mapping is a plain dict: the span's own values were validated by the SDK already and ours
    are primitives or tuples of them, so re-validating through BoundedAttributes would only cost time."""
    try:
        merged = {**span._attributes._dict, **added}  # type: ignore[union-attr]  # see attribute_dict
    except AttributeError:
        merged = {**attribute_dict(span), **added}
    if type(span) is ReadableSpan:  # its __init__ always sets _attributes
        span._attributes = merged  # see the docstring: the snapshot is ours
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=merged,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def does_nothing(method: Callable[..., Any]) -> bool:
    """True when ``method`` is a plain function whose body is empty (``pass`` or a docstring).

    Most processors (the SDK's batch and simple ones, ours) define ``on_start``/``_on_ending`` as
    ``pass``; calling them costs a Python call per span and does nothing, so the wrapper skips them.
    Anything else (a C function, a decorated or non-empty method) is called as usual. Processors are
    classified once, when added (add_downstream): replacing a hook on an added instance is not seen."""
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    if code is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP")]
    return ops in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


class EnrichingSpanProcessor(SpanProcessor):
    """Attribution on start, usage/cost/errors/roll-up on end, around the processors it wraps."""

    def __init__(
        self,
        downstream: Iterable[SpanProcessor] = (),
        settings: Settings | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.prices = prices or PriceBook(self.settings.price_file)
        self._clean_rates = CleanRates(self.prices)
        budgets.configure(self.settings, self.prices)
        self._credits = CreditBook.from_settings(self.settings.credits_per_usd, self.settings.price_file)
        self._clean_pairs = self._clean_rates.pairs  # the same dict, one attribute load less per span
        self._downstream: tuple[SpanProcessor, ...] = ()
        # The downstream processors whose on_start / _on_ending do something (see does_nothing).
        self._starting: tuple[SpanProcessor, ...] = ()
        self._ending: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()
        for processor in downstream:
            self.add_downstream(processor)
        self._attribution = AttributionSpanProcessor(on_run_start=self._run_started)
        self._rollup = RunRollup() if self.settings.rollup else None
        interval = self.settings.heartbeat_interval_s
        self._markers = RunMarkers(self._emit, interval) if self.settings.markers else None

    # --- composition -------------------------------------------------------------------------
    @property
    def downstream(self) -> tuple[SpanProcessor, ...]:
        return self._downstream

    def add_downstream(self, processor: SpanProcessor) -> None:
        """Wrap one more processor; it sees every span after enrichment."""
        with self._lock:
            self._downstream = (*self._downstream, processor)
            if not does_nothing(processor.on_start):
                self._starting = (*self._starting, processor)
            if not does_nothing(processor._on_ending):
                self._ending = (*self._ending, processor)

    def _emit(self, span: ReadableSpan) -> None:
        for processor in self._downstream:
            try:
                processor.on_end(span)
            except Exception as exc:  # inline, not guard(): this runs for every span
                if contain(f"processor {type(processor).__name__}.on_end", exc):
                    raise

    # --- start ----------------------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            self._attribution.on_start(span, parent_context)  # calls _run_started for runs
        except Exception as exc:
            if contain("enrich.on_start", exc):
                raise
        for processor in self._starting:
            try:
                processor.on_start(span, parent_context)
            except Exception as exc:
                if contain(f"processor {type(processor).__name__}.on_start", exc):
                    raise

    def _run_started(self, span: Span, carried: Mapping[str, Any]) -> None:
        if self._rollup is not None:
            self._rollup.open(carried[A.RUN_ID])
        if self._markers is not None:
            self._markers.run_started(span, carried)

    def _on_ending(self, span: Span) -> None:
        for processor in self._ending:
            try:
                processor._on_ending(span)
            except Exception as exc:
                if contain(f"processor {type(processor).__name__}._on_ending", exc):
                    raise

    # --- end ------------------------------------------------------------------------------------
    def on_end(self, span: ReadableSpan) -> None:
        try:
            enriched = self._enrich(span)
        except Exception as exc:
            record_failure("enrich.on_end", exc)
            enriched = self._marked_failed(span, exc)
        for processor in self._downstream:  # _emit inlined: one call less for every span
            try:
                processor.on_end(enriched)
            except Exception as exc:
                if contain(f"processor {type(processor).__name__}.on_end", exc):
                    raise

    def _marked_failed(self, span: ReadableSpan, exc: Exception) -> ReadableSpan:
        with guard("enrich.mark_failed"):
            return with_attributes(span, {A.ENRICHMENT_ERROR: f"{type(exc).__name__}: {exc}"[:200]})
        return span

    def _enrich(self, span: ReadableSpan) -> ReadableSpan:
        attrs = attribute_dict(span)
        if not attrs:  # a span with no attributes was never tabled by the attribution step either
            return span
        span_id = 0
        run_id = attrs.get(A.RUN_ID)
        # Nothing tabled and no run id (an LLM call outside any run): skip reading the span id.
        if run_id is not None or self._attribution.open_spans:
            context = span.context
            span_id = context.span_id if context is not None else 0
            self._attribution.on_end(span_id)
        added = clean_cost(attrs, self._clean_pairs)
        if added is None:  # not a clean call of a known pair: the full path, and learn the pair
            added = usage_and_cost(attrs, self.prices)
            self._clean_rates.learn(attrs)
        if self._credits is not None and A.PRICE_SOURCE in added:  # credits are on and the call was priced
            self._add_credits(attrs, added)
        if status_code(span) is _ERROR:
            added.update(error_category(attrs, span))
        if run_id is not None:
            if is_run(attrs) and run_id == span_id_hex(span_id):
                added.update(self._run_end(span_id, attrs, added, span.status))
            else:
                if budgets.RUNS:  # a budgeted run is open: count this step's cost against it
                    budgets.spend(str(run_id), added.get(A.COST_USD, attrs.get(A.COST_USD)))
                if self._rollup is not None:
                    self._contribute(str(run_id), attrs, added, span)
        return with_attributes(span, added) if added else span

    def _add_credits(self, attrs: Mapping[str, Any], added: dict[str, Any]) -> None:
        credits = self._credits.credits({**attrs, **added}) if self._credits is not None else None
        if credits is not None:
            added[A.COST_CREDITS] = credits

    def _contribute(
        self, run_id: str, attrs: Mapping[str, Any], added: dict[str, Any], span: ReadableSpan
    ) -> None:
        """Add a step to its run's totals; plain successful steps add nothing and are skipped early."""
        op = attrs.get(A.GEN_AI_OPERATION_NAME)
        if not added and A.ERROR_CATEGORY not in attrs and op != A.OP_EXECUTE_TOOL and op not in _LLM_OPS:
            return  # no usage, no error (a failed span always has a category by now), not a tool or call
        merged = {**attrs, **added}
        part = contribution(merged, span.status.is_ok is False)
        if part is None or self._rollup is None:
            return
        kind = exchange_kind(merged)
        if kind is None:
            self._rollup.add(run_id, part)
        else:
            self._rollup.add_call(run_id, exchange_node(span, kind, merged), part)

    def _run_end(
        self, span_id: int, attrs: Mapping[str, Any], added: dict[str, Any], status: Any
    ) -> dict[str, Any]:
        if self._markers is not None:
            self._markers.run_ended(span_id)
        merged = {**attrs, **added}
        out = run_status(merged, status.status_code, merged.get(A.ERROR_CATEGORY))
        if self._rollup is not None:
            own = contribution(merged, status.is_ok is False)
            parent = attrs.get(A.RUN_PARENT_ID)
            totals = self._rollup.close(str(attrs[A.RUN_ID]), str(parent) if parent else None, own)
            if totals is not None:
                out.update(totals.attributes())
        return out

    # --- lifecycle -----------------------------------------------------------------------------
    def heartbeat_now(self) -> None:
        if self._markers is not None:
            self._markers.heartbeat_now()

    def shutdown(self) -> None:
        if self._markers is not None:
            self._markers.shutdown()
        for processor in self._downstream:
            with guard(f"processor {type(processor).__name__}.shutdown"):
                processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for processor in self._downstream:
            left_ms = max(int((deadline - time.monotonic()) * 1000), 0)
            with guard(f"processor {type(processor).__name__}.force_flush"):
                ok = processor.force_flush(left_ms) and ok
        return ok
