"""End-time enrichment of a neutral SpanRecord: the store's and the sink's twin of the processors' on_end.

The same pure functions as ``processors.enrich`` (normalisation of every accepted spelling, pricing with
genai-prices or the price file, the error taxonomy), applied where spans arrive as records: spans from
another language through ``otel-agent sink``, or from a process without our processors. A record our
processors enriched already (it has a price source, an error category) passes through unchanged, so
both paths give the same rows. Attribution inheritance needs the run's row and happens in the store
(``store.inherit``); which of several spans of one exchange counts is ``otel_agent.exchange``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from otel_agent import attributes as A
from otel_agent.errors import classify_span
from otel_agent.guard import guard
from otel_agent.pricing import PriceBook
from otel_agent.processors.enrich import usage_and_cost
from otel_agent.record import SpanRecord

# Span kinds other conventions use where semconv has an operation (OpenInference, OpenLLMetry).
_FOREIGN_OPERATIONS: dict[tuple[str, Any], str] = {
    (A.OI_SPAN_KIND, "LLM"): A.OP_CHAT,
    (A.OI_SPAN_KIND, "EMBEDDING"): A.OP_EMBEDDINGS,
    (A.OI_SPAN_KIND, "TOOL"): A.OP_EXECUTE_TOOL,
    (A.TL_SPAN_KIND, "tool"): A.OP_EXECUTE_TOOL,
}


def foreign_operation(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """gen_ai.operation.name for a span that says what it is only in another convention's words."""
    if A.GEN_AI_OPERATION_NAME in attrs:
        return {}
    for key in (A.OI_SPAN_KIND, A.TL_SPAN_KIND):
        operation = _FOREIGN_OPERATIONS.get((key, attrs.get(key)))
        if operation is not None:
            return {A.GEN_AI_OPERATION_NAME: operation}
    return {}


class RecordEnricher:
    """Normalise, price and classify SpanRecords (see the module docstring)."""

    def __init__(self, prices: PriceBook | None = None) -> None:
        self.prices = prices or PriceBook()

    def enrich(self, record: SpanRecord) -> SpanRecord:
        """The record with what enrichment adds; the record itself when nothing is added or it fails."""
        with guard("record.enrich"):
            added = self._added(record)
            if added:
                return dataclasses.replace(record, attributes={**record.attributes, **added})
        return record

    def enrich_all(self, records: Iterable[SpanRecord]) -> list[SpanRecord]:
        return [self.enrich(record) for record in records]

    def _added(self, record: SpanRecord) -> dict[str, Any]:
        attrs = record.attributes
        added = foreign_operation(attrs)
        merged = {**attrs, **added} if added else attrs
        added.update(usage_and_cost(merged, self.prices))
        if record.status_code == "ERROR" and A.ERROR_CATEGORY not in attrs:
            merged = {**attrs, **added} if added else attrs
            added[A.ERROR_CATEGORY] = classify_span(merged, record.events, record.status_message)
        return added
