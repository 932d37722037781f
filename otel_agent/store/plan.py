"""Plan one batch: sort records into runs, markers and steps, resolve each span's run, build the rows.

Spans from our processors carry their run id; spans from elsewhere may only have parent links, and
their parents may be in this batch, already stored, or not yet arrived. Resolution walks parents in the
batch, then asks the store once for the rest; what is still unknown is stored with run_id NULL and
linked later by ``links.relink`` when the parent arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from otel_agent import attributes as A
from otel_agent.record import SpanRecord
from otel_agent.store import rows as R
from otel_agent.store.clean import span_id
from otel_agent.store.content import ContentPolicy

MAX_DEPTH = 256  # parent chains longer than this (or cyclic) are left unresolved

# Given span ids not in the batch: {span id: run id} for stored steps and runs (a run maps to itself).
Lookup = Callable[[set[str]], Mapping[str, str | None]]


@dataclass
class BatchPlan:
    runs: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    placeholders: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    # Runs the processor declared top-level (root = itself, no parent run): their root needs no repair.
    settled_roots: set[str] = field(default_factory=set)

    def roots_to_check(self) -> set[str]:
        """Runs written by this batch whose root, or whose children's roots, may need repair."""
        written = {row["run_id"] for row in self.runs} | {row["run_id"] for row in self.markers}
        return written - self.settled_roots

    def run_ids(self) -> set[str]:
        """Every run this batch touches: its runs, markers' runs and its steps' runs."""
        ids = {row["run_id"] for row in self.runs} | {row["run_id"] for row in self.markers}
        return ids | {row["run_id"] for row in self.steps if row["run_id"]}

    def span_ids(self) -> set[str]:
        return {row["run_id"] for row in self.runs} | {row["span_id"] for row in self.steps}


def _needs_parent(run: SpanRecord) -> bool:
    """A run whose enclosing run is neither declared nor declared absent (root == itself)."""
    attrs = run.attributes
    return (
        bool(run.parent_span_id)
        and not span_id(attrs.get(A.RUN_PARENT_ID))
        and (span_id(attrs.get(A.RUN_ROOT_ID)) != run.span_id)
    )


class _RunIndex:
    """Which run encloses a span, from parent links in the batch and one lookup of stored spans."""

    def __init__(self, spans: Sequence[SpanRecord], runs: set[str], lookup: Lookup) -> None:
        self._parent = {r.span_id: r.parent_span_id for r in spans}
        self._runs = runs
        self._known: dict[str, str | None] = {}
        for r in spans:
            declared = span_id(r.attributes.get(A.RUN_ID))
            if r.span_id in runs:
                self._known[r.span_id] = r.span_id
            elif declared:
                self._known[r.span_id] = declared
        # Only spans whose run is not declared need their ancestors looked up.
        unresolved: list[str | None] = [r.parent_span_id for r in spans if r.span_id not in self._known]
        unresolved += [r.parent_span_id for r in spans if r.span_id in runs and _needs_parent(r)]
        outside = {self._first_outside(p) for p in unresolved}
        outside.discard(None)
        if outside:
            self._known.update(lookup(outside))  # type: ignore[arg-type]

    def _first_outside(self, span: str | None) -> str | None:
        for _ in range(MAX_DEPTH):
            if span is None or span in self._known:
                return None
            if span not in self._parent:
                return span
            span = self._parent[span]
        return None

    def run_enclosing(self, parent: str | None) -> str | None:
        """The innermost run at or above ``parent``."""
        for _ in range(MAX_DEPTH):
            if parent is None:
                return None
            if parent in self._known:
                return self._known[parent]
            parent = self._parent.get(parent)
        return None


def plan_batch(
    records: Iterable[SpanRecord], lookup: Lookup, content: ContentPolicy, now: datetime
) -> BatchPlan:
    plan = BatchPlan()
    spans: list[SpanRecord] = []
    for record in records:
        if R.is_marker(record):
            _add_marker(plan, record, now)
        else:
            spans.append(record)
    runs = {r.span_id for r in spans if R.is_run(r)}
    index = _RunIndex(spans, runs, lookup)
    for record in spans:
        if record.span_id in runs:
            _add_run(plan, record, index, content, now)
        else:
            _add_step(plan, record, index, content)
    _add_placeholders(plan, now)
    return plan


def _add_marker(plan: BatchPlan, record: SpanRecord, now: datetime) -> None:
    run_id = R.marker_run_id(record)
    if run_id:
        plan.markers.append(R.marker_row(record, run_id, now))
        if _declared_top_level(record, run_id):
            plan.settled_roots.add(run_id)


def _declared_top_level(record: SpanRecord, run_id: str) -> bool:
    attrs = record.attributes
    return span_id(attrs.get(A.RUN_ROOT_ID)) == run_id and not span_id(attrs.get(A.RUN_PARENT_ID))


def _add_run(
    plan: BatchPlan, record: SpanRecord, index: _RunIndex, content: ContentPolicy, now: datetime
) -> None:
    attrs = record.attributes
    parent_run = span_id(attrs.get(A.RUN_PARENT_ID))
    root = span_id(attrs.get(A.RUN_ROOT_ID))
    if _needs_parent(record):  # the processor says top-level when the root is the run itself
        parent_run = index.run_enclosing(record.parent_span_id)
    if parent_run == record.span_id:
        parent_run = None
    plan.runs.append(R.run_row(record, parent_run, root or record.span_id, content, now))
    if _declared_top_level(record, record.span_id):
        plan.settled_roots.add(record.span_id)
    if record.status_code == "ERROR":
        plan.failures.append(R.failure_row(record, record.span_id, "run"))


def _add_step(plan: BatchPlan, record: SpanRecord, index: _RunIndex, content: ContentPolicy) -> None:
    run_id = span_id(record.attributes.get(A.RUN_ID)) or index.run_enclosing(record.parent_span_id)
    plan.steps.append(R.step_row(record, run_id, content))
    if record.status_code == "ERROR":
        plan.failures.append(R.failure_row(record, run_id, "step"))


def _add_placeholders(plan: BatchPlan, now: datetime) -> None:
    present = {row["run_id"] for row in plan.runs}
    for row in plan.steps:
        run_id = row["run_id"]
        if run_id and run_id not in present:
            present.add(run_id)
            plan.placeholders.append(R.placeholder_row(run_id, row["trace_id"], now))
