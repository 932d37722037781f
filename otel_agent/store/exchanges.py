"""Apply the one-count-per-exchange rule (otel_agent.exchange) to stored steps, order-free.

For every trace a batch brings an LLM or HTTP step to, the trace's LLM and HTTP steps are read back and
the rule re-applied over all of them, so a wrapper stored first is marked when its call arrives later,
and the reverse. The rule only ever adds duplicates as spans arrive (a later span never makes a
duplicate count again), so a duplicate's failure row can be deleted for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from otel_agent.exchange import HTTP, LLM, Node, duplicates
from otel_agent.store import models as M
from otel_agent.store.sqlparts import one_of

_CHUNK = 500


def _traces(steps: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({row["trace_id"] for row in steps if row["kind"] in (LLM, HTTP)})


def _nodes(conn: sa.Connection, traces: Sequence[str]) -> list[tuple[Node, str | None, str | None]]:
    s = M.steps.c
    query = sa.select(
        s.span_id, s.parent_span_id, s.kind, s.on_wire, s.provider, s.started_at, s.ended_at,
        s.duplicate_of, s.run_id,
    ).where(one_of(conn, s.trace_id, traces), s.kind.in_((LLM, HTTP)))  # fmt: skip
    found = []
    for row in conn.execute(query):
        node = Node(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6] or row[5])
        found.append((node, row[7], row[8]))
    return found


def reconcile(conn: sa.Connection, steps: Sequence[dict[str, Any]]) -> set[str]:
    """Mark the duplicates among the traces of ``steps`` (rows just upserted); drop their failure rows.
    Returns the runs whose counted steps changed (their totals need recomputing)."""
    traces = _traces(steps)
    arrived = {row["span_id"] for row in steps}
    changed_runs: set[str] = set()
    for start in range(0, len(traces), _CHUNK):
        found = _nodes(conn, traces[start : start + _CHUNK])
        marks = duplicates(node for node, _, _ in found if node.start is not None)
        updates = [
            {"b_span": node.span_id, "b_dup": marks[node.span_id]}
            for node, stored, _ in found
            if node.span_id in marks and stored != marks[node.span_id]
        ]
        if updates:
            s = M.steps.c
            conn.execute(
                M.steps.update()
                .where(s.span_id == sa.bindparam("b_span"))
                .values(duplicate_of=sa.bindparam("b_dup")),
                updates,
            )
            changed_runs |= {run for node, _, run in found if run and node.span_id in marks}
        # A failure row can only have come back with its span (this batch) or be from before the mark.
        dropped = {u["b_span"] for u in updates} | (arrived & set(marks))
        if dropped:
            _drop_failures(conn, sorted(dropped))
    return changed_runs


def _drop_failures(conn: sa.Connection, span_ids: list[str]) -> None:
    """A duplicate's error is its call's error: the call's own failure row is the one that stays."""
    f = M.failures.c
    for start in range(0, len(span_ids), _CHUNK):
        chunk = span_ids[start : start + _CHUNK]
        conn.execute(M.failures.delete().where(one_of(conn, f.failure_id, chunk), f.source == "step"))
