"""On span start: copy the run's attribution onto every span started inside a run and set run ids.

Attribution comes from the parent span when it lives in this process (looked up by span id in a bounded
table this processor keeps for open spans that carry attribution), otherwise from the allow-listed keys
of the parent context's baggage (a remote parent, or a context built by ``agent_run``). Attributes the
span already has win over inherited ones, so a step's own stage overrides the run's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span

from otel_agent import attributes as A
from otel_agent.spanattrs import set_clean_attributes

ATTRIBUTION_KEYS: tuple[str, ...] = A.BAGGAGE_KEYS
_RUN_ID_KEYS = frozenset({A.RUN_ID, A.RUN_ROOT_ID, A.RUN_PARENT_ID})
# Keys a span passes to its children: attribution plus run ids (RUN_PARENT_ID stays on the run only).
_INHERITED = tuple(k for k in ATTRIBUTION_KEYS if k not in _RUN_ID_KEYS)
_INHERITED_SET = frozenset(_INHERITED)
# A span with none of these (and no run operation) carries nothing new.
_OWN_KEYS = _INHERITED_SET | {A.RUN, A.OI_SPAN_KIND}
# The context key baggage lives under; reading it directly skips get_all()'s MappingProxyType for the
# common case of no baggage at all. Falls back to the public API if the SDK renames it.
_BAGGAGE_KEY = getattr(baggage, "_BAGGAGE_KEY", None)


def _context_getter() -> Callable[[], Context]:
    """The cheapest way to read the current context: the default runtime context's ContextVar.get (no
    Python frame), else the runtime context's own get_current, else the public function. The runtime
    context is chosen once, when opentelemetry.context is imported, so binding it here is safe."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if isinstance(var, contextvars.ContextVar):
        return var.get
    getter: Callable[[], Context] = getattr(runtime, "get_current", otel_context.get_current)
    return getter


_get_current = _context_getter()
MAX_OPEN_SPANS = 100_000  # bound on the table; past it, children fall back to baggage


def span_id_hex(span_id: int) -> str:
    return format(span_id, "016x")


def _live_attributes(span: Span) -> Mapping[str, Any]:
    # Read-only view of a live span's attributes; see processors.enriching.attribute_dict for why.
    try:
        inner = span._attributes._dict  # type: ignore[union-attr]
    except AttributeError:
        inner = None
    return inner if isinstance(inner, dict) else (span.attributes or {})


def is_run(attrs: Mapping[str, Any], inherited: Mapping[str, Any] | None = None) -> bool:
    """A run: invoke_agent / invoke_workflow, a span the user marked, or an agent framework's own span
    (OpenInference kind AGENT, as the OpenAI Agents SDK's agents; or CHAIN outside any run, as a LangGraph
    graph or a LangChain chain called on its own; the chains inside a run stay its steps)."""
    if attrs.get(A.GEN_AI_OPERATION_NAME) in A.RUN_OPERATIONS or attrs.get(A.RUN) is True:
        return True
    kind = attrs.get(A.OI_SPAN_KIND)
    return kind == "AGENT" or (kind == "CHAIN" and not (inherited and inherited.get(A.RUN_ID)))


class AttributionSpanProcessor:
    """Start-time enrichment (used by ``EnrichingSpanProcessor``; not a stand-alone SpanProcessor)."""

    def __init__(
        self,
        max_open_spans: int = MAX_OPEN_SPANS,
        on_run_start: Callable[[Span, dict[str, Any]], None] | None = None,
    ) -> None:
        self._on_run_start = on_run_start  # called with a run span and the attribution it now carries
        # Open spans' attribution by span id; read-only outside this class (the wrapper checks it is
        # non-empty before calling on_end, which saves a call per span outside any run).
        self.open_spans: dict[int, dict[str, Any]] = {}
        self._max_open = max_open_spans
        self.overflow = 0  # spans not tabled because the table was full

    def _inherited(self, span: Span, parent_context: Context | None) -> dict[str, Any] | None:
        # The SDK resolved the parent already: cheaper than reading the context. Its field, not the
        # property: one Python call less for every span.
        try:
            parent = span._parent
        except AttributeError:
            parent = span.parent
        if parent is not None and not parent.is_remote:
            found = self.open_spans.get(parent.span_id)
            if found is not None:
                return found
        ctx = parent_context if parent_context is not None else _get_current()
        if _BAGGAGE_KEY is not None and not ctx.get(_BAGGAGE_KEY):
            return None
        entries = baggage.get_all(ctx)
        if not entries:
            return None
        return {k: str(entries[k]) for k in ATTRIBUTION_KEYS if k in entries}

    def on_start(self, span: Span, parent_context: Context | None) -> dict[str, Any] | None:
        """Set attribution on ``span``; returns what it now carries (None when it carries nothing).

        Dicts handed out and stored here are never mutated afterwards, so a span that carries exactly its
        parent's attribution (the common case inside a run) shares the parent's dict instead of a copy."""
        inherited = self._inherited(span, parent_context)
        try:  # _live_attributes inlined for the SDK's span (see attribute_dict); the call otherwise
            own: Mapping[str, Any] = span._attributes._dict  # type: ignore[union-attr]
        except AttributeError:
            own = _live_attributes(span)
        run = sets_own = False
        # One set test rules out most spans: no attribution key, no run flag and not a run operation.
        if own and not (
            _OWN_KEYS.isdisjoint(own) and own.get(A.GEN_AI_OPERATION_NAME) not in A.RUN_OPERATIONS
        ):
            run = is_run(own, inherited)
            sets_own = not _INHERITED_SET.isdisjoint(own)
        if not (run or sets_own):
            if inherited:
                set_clean_attributes(span, inherited)
                self._remember(span.get_span_context().span_id, inherited)
            return inherited or None
        carried = dict(inherited or {})
        for key in _INHERITED:
            value = own.get(key)
            if value is not None:
                carried[key] = value
        if run:
            # A run's tags reach everything inside it, nested runs included (own tags win).
            carried.update({k: v for k, v in own.items() if k.startswith(A.TAG_PREFIX)})
            self._set_run_ids(span, carried)
        set_clean_attributes(span, {k: v for k, v in carried.items() if own.get(k) != v})
        self._remember(
            span.get_span_context().span_id, {k: v for k, v in carried.items() if k != A.RUN_PARENT_ID}
        )
        if run and self._on_run_start is not None:
            self._on_run_start(span, carried)
        return carried

    @staticmethod
    def _set_run_ids(span: Span, carried: dict[str, Any]) -> None:
        own_id = span_id_hex(span.get_span_context().span_id)
        enclosing = carried.get(A.RUN_ID)
        if enclosing and enclosing != own_id:
            carried[A.RUN_PARENT_ID] = enclosing
        carried.setdefault(A.RUN_ROOT_ID, own_id)
        carried[A.RUN_ID] = own_id

    def _remember(self, span_id: int, children_view: dict[str, Any]) -> None:
        """Table what children of this span inherit (never RUN_PARENT_ID: that is the run's own)."""
        if len(self.open_spans) >= self._max_open:
            self.overflow += 1
            return
        self.open_spans[span_id] = children_view  # one dict store: atomic under the GIL, no lock needed

    def on_end(self, span_id: int) -> None:
        if self.open_spans:
            self.open_spans.pop(span_id, None)
