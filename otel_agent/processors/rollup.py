"""Run roll-up: a run span carries the totals of its descendants that ended in this process.

Every span inside a run names its innermost run (``RUN_ID``). When a step ends, its contribution is added
to that run's totals; when a run ends, its totals are written on it and added to its enclosing run
(``RUN_PARENT_ID``), so nested runs roll up. Steps that end after their run are not counted (the run's
span is already exported). The table is bounded: past ``max_open_runs`` new runs get no roll-up.

LLM calls and HTTP client spans are kept apart until their run ends: several spans may stand for one
exchange (a foreign instrumentation's wrapper and our call, the HTTP span under it), and which of them
counts is only known when all have ended. ``otel_agent.exchange.duplicates`` decides, the same rule the
store applies, so the run span and the stored run agree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from otel_agent import attributes as A
from otel_agent.exchange import HTTP, LLM, WIRE_KEYS, Node, duplicates, is_http_client

MAX_CALLS_PER_RUN = 10_000  # calls held for de-duplication; past it a run's calls are counted as they end


@dataclass(slots=True)
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    cost_credits: float = 0.0  # 0 when credits are off (docs/budgets.md)
    llm_calls: int = 0
    tool_calls: int = 0
    errors: int = 0
    unpriced_calls: int = 0

    def add(self, other: Totals) -> None:
        # Spelled out: once per LLM call, and dataclasses.fields() with getattr/setattr costs several times
        # more. test_rollup_add_covers_every_field keeps it complete.
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_creation_tokens += other.cache_creation_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost_usd += other.cost_usd
        self.cost_credits += other.cost_credits
        self.llm_calls += other.llm_calls
        self.tool_calls += other.tool_calls
        self.errors += other.errors
        self.unpriced_calls += other.unpriced_calls

    def attributes(self) -> dict[str, Any]:
        return {A.ROLLUP_PREFIX + f.name: getattr(self, f.name) for f in fields(self)}


def _count(attrs: Mapping[str, Any], key: str) -> int:
    value = attrs.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def contribution(attrs: Mapping[str, Any], failed: bool) -> Totals | None:
    """What one finished (already enriched) step adds to its run; None when it adds nothing."""
    op = attrs.get(A.GEN_AI_OPERATION_NAME)
    source = attrs.get(A.PRICE_SOURCE)
    is_llm = op in A.LLM_OPERATIONS or source is not None
    if not (is_llm or failed or op == A.OP_EXECUTE_TOOL):
        return None
    cost = attrs.get(A.COST_USD)
    credits = attrs.get(A.COST_CREDITS)
    # An SDK's retry (attempt 1, 2, ...) is the same call again: its tokens and cost count, the call once.
    new_call = is_llm and _count(attrs, A.RETRY_ATTEMPT) <= 0
    # Unknown money: usage without a price, or a call that succeeded without saying its usage. A failed
    # attempt without usage cost nothing. The store counts the same (store.totals).
    unpriced = is_llm and (source == A.PRICE_SOURCE_UNPRICED or (cost is None and not failed))
    return Totals(
        input_tokens=_count(attrs, A.GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens=_count(attrs, A.GEN_AI_USAGE_OUTPUT_TOKENS),
        cache_read_tokens=_count(attrs, A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        cache_creation_tokens=_count(attrs, A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
        reasoning_tokens=_count(attrs, A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        cost_usd=float(cost) if isinstance(cost, (int, float)) else 0.0,
        cost_credits=float(credits) if isinstance(credits, (int, float)) else 0.0,
        llm_calls=int(new_call),
        tool_calls=int(op == A.OP_EXECUTE_TOOL),
        errors=int(failed),
        unpriced_calls=int(unpriced),
    )


class RunRollup:
    """Open runs' running totals, keyed by run id (16-hex span id)."""

    def __init__(self, max_open_runs: int = 10_000) -> None:
        self._open: dict[str, Totals] = {}
        self._calls: dict[str, list[tuple[Node, Totals]]] = {}  # per open run, until it ends
        self._max_open = max_open_runs
        self._lock = threading.Lock()
        self.overflow = 0

    def open(self, run_id: str) -> None:
        with self._lock:
            if len(self._open) >= self._max_open:
                self.overflow += 1
                return
            self._open.setdefault(run_id, Totals())

    def add(self, run_id: str, totals: Totals) -> None:
        with self._lock:
            target = self._open.get(run_id)
            if target is not None:
                target.add(totals)

    def add_call(self, run_id: str, node: Node, totals: Totals) -> None:
        """An LLM call or HTTP span: held until the run ends, when duplicates of one exchange drop out."""
        with self._lock:
            target = self._open.get(run_id)
            if target is None:
                return
            calls = self._calls.setdefault(run_id, [])
            if len(calls) < MAX_CALLS_PER_RUN:
                calls.append((node, totals))
            else:
                target.add(totals)

    def close(self, run_id: str, parent_run_id: str | None, own: Totals | None) -> Totals | None:
        """Pop a run's totals (None if it was never opened) and pass them, plus its own part, upward."""
        with self._lock:
            totals = self._open.pop(run_id, None)
            calls = self._calls.pop(run_id, None)
            if totals is not None and calls:
                _add_counted(totals, calls)
            parent = self._open.get(parent_run_id) if parent_run_id else None
            if parent is not None:
                if totals is not None:
                    parent.add(totals)
                if own is not None:
                    parent.add(own)
        return totals


def _add_counted(totals: Totals, calls: list[tuple[Node, Totals]]) -> None:
    duplicate = duplicates(node for node, _ in calls)
    for node, part in calls:
        if node.span_id not in duplicate:
            totals.add(part)


def exchange_kind(attrs: Mapping[str, Any]) -> str | None:
    """LLM for a call (as ``contribution`` and the store decide), HTTP for an HTTP client span, else None."""
    if attrs.get(A.GEN_AI_OPERATION_NAME) in A.LLM_OPERATIONS or A.PRICE_SOURCE in attrs:
        return LLM
    return HTTP if is_http_client(attrs) else None


_new_tuple = tuple.__new__


def exchange_node(span: Any, kind: str, attrs: Mapping[str, Any]) -> Node:
    """The exchange rule's view of a finished SDK span (ids as ints: compared, never stored). Built for
    every LLM span inside a run: the SDK's fields are read directly (properties cost a call each) and the
    tuple built with tuple.__new__ (half the NamedTuple's generated __new__); public API otherwise."""
    try:
        context, parent, start, end = span._context, span._parent, span._start_time, span._end_time
    except AttributeError:
        context, parent, start, end = span.context, span.parent, span.start_time, span.end_time
    provider = attrs.get(A.GEN_AI_PROVIDER_NAME)
    return _new_tuple(Node, (
        context.span_id,
        parent.span_id if parent is not None else None,
        kind,
        not attrs.keys().isdisjoint(WIRE_KEYS),  # exchange.on_wire, inlined
        provider if provider.__class__ is str else None,
        start or 0,
        end or start or 0,
    ))  # fmt: skip
