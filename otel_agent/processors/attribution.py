"""On span start: copy the run's attribution onto every span started inside a run and set run ids.

Attribution comes from the parent span when it lives in this process (looked up by span id in a bounded
table this processor keeps for open spans that carry attribution), otherwise from the allow-listed keys
of the parent context's baggage (a remote parent, or a context built by ``agent_run``). Attributes the
span already has win over inherited ones, so a step's own stage overrides the run's.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span

from otel_agent import attributes as A

ATTRIBUTION_KEYS: tuple[str, ...] = A.BAGGAGE_KEYS
_RUN_ID_KEYS = frozenset({A.RUN_ID, A.RUN_ROOT_ID, A.RUN_PARENT_ID})
# Keys a span passes to its children: attribution plus run ids (RUN_PARENT_ID stays on the run only).
_INHERITED = tuple(k for k in ATTRIBUTION_KEYS if k not in _RUN_ID_KEYS)
MAX_OPEN_SPANS = 100_000  # bound on the table; past it, children fall back to baggage


def span_id_hex(span_id: int) -> str:
    return format(span_id, "016x")


def _live_attributes(span: Span) -> Mapping[str, Any]:
    # Read-only view of a live span's attributes; see processors.enriching.attribute_dict for why.
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    return inner if isinstance(inner, dict) else (span.attributes or {})


def is_run(attrs: Mapping[str, Any]) -> bool:
    return attrs.get(A.GEN_AI_OPERATION_NAME) in A.RUN_OPERATIONS or attrs.get(A.RUN) is True


class AttributionSpanProcessor:
    """Start-time enrichment (used by ``EnrichingSpanProcessor``; not a stand-alone SpanProcessor)."""

    def __init__(self, max_open_spans: int = MAX_OPEN_SPANS) -> None:
        self._open: dict[int, dict[str, Any]] = {}
        self._max_open = max_open_spans
        self._lock = threading.Lock()
        self.overflow = 0  # spans not tabled because the table was full

    def _inherited(self, parent_context: Context | None) -> dict[str, Any] | None:
        ctx = parent_context if parent_context is not None else otel_context.get_current()
        parent = trace.get_current_span(ctx).get_span_context()
        if parent.is_valid and not parent.is_remote:
            found = self._open.get(parent.span_id)
            if found is not None:
                return found
        entries = baggage.get_all(ctx)
        if not entries:
            return None
        return {k: str(entries[k]) for k in ATTRIBUTION_KEYS if k in entries}

    def on_start(self, span: Span, parent_context: Context | None) -> dict[str, Any] | None:
        """Set attribution on ``span``; returns what it now carries (None when it carries nothing)."""
        inherited = self._inherited(parent_context)
        own = _live_attributes(span)
        run = bool(own) and is_run(own)
        if not inherited and not run and not (own and any(k in own for k in _INHERITED)):
            return None
        carried = {k: v for k, v in (inherited or {}).items() if k in _INHERITED or k in _RUN_ID_KEYS}
        carried.pop(A.RUN_PARENT_ID, None)
        for key in _INHERITED:
            value = own.get(key)
            if value is not None:
                carried[key] = value
        if run:
            self._set_run_ids(span, carried)
        span.set_attributes({k: v for k, v in carried.items() if own.get(k) != v})
        self._remember(span.get_span_context().span_id, carried)
        return carried

    @staticmethod
    def _set_run_ids(span: Span, carried: dict[str, Any]) -> None:
        own_id = span_id_hex(span.get_span_context().span_id)
        enclosing = carried.get(A.RUN_ID)
        if enclosing and enclosing != own_id:
            carried[A.RUN_PARENT_ID] = enclosing
        carried.setdefault(A.RUN_ROOT_ID, own_id)
        carried[A.RUN_ID] = own_id

    def _remember(self, span_id: int, carried: dict[str, Any]) -> None:
        children_view = {k: v for k, v in carried.items() if k != A.RUN_PARENT_ID}
        with self._lock:
            if len(self._open) >= self._max_open:
                self.overflow += 1
                return
            self._open[span_id] = children_view

    def on_end(self, span_id: int) -> None:
        self._open.pop(span_id, None)
