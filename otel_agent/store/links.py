"""Repair links after a batch lands, so the result does not depend on arrival order.

* ``relink``: steps stored with run_id NULL (their parent had not arrived) get their run once a parent
  in the frontier (ids just written) is known; nested runs get their parent run; roots follow parents.
* ``orphan_parents``: what the periodic sweep tries to link, newest orphans first and bounded, so spans
  whose parents never arrive cannot hold back a late orphan that can be linked.
* ``recompute_totals``: run totals are recomputed from the steps (never incremented), so duplicates,
  replays and late steps can never skew them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from otel_agent.store.models import failures, runs, steps
from otel_agent.store.sqlparts import one_of

MAX_ROUNDS = 64  # one round per level of a parent chain that arrived bottom-up
_CHUNK = 500  # ids per IN (...) list


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(ids)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _run_of(conn: sa.Connection, ids: set[str]) -> dict[str, str]:
    """For span ids: the run each one is (a run) or belongs to (a linked step)."""
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        found.update(
            {r: r for r in conn.scalars(sa.select(runs.c.run_id).where(one_of(conn, runs.c.run_id, chunk)))}
        )
        query = sa.select(steps.c.span_id, steps.c.run_id).where(
            one_of(conn, steps.c.span_id, chunk), steps.c.run_id.is_not(None)
        )
        found.update({s: r for s, r in conn.execute(query)})
    return found


SWEEP_ORPHAN_PARENTS = 10_000  # parents looked at per sweep
FUTURE_SLACK = timedelta(minutes=10)  # a step "started" later than this ahead of now has a broken clock


def orphan_parents(conn: sa.Connection, now: datetime, limit: int | None = None) -> set[str]:
    """Parents of steps without a run, those of the most recently started orphans first.

    Newest first, because the sweep is for orphans whose parent was written by another process moments
    ago; an orphan whose parent has not come for days is no reason to skip a fresh one. Steps claiming to
    start in the future (a broken clock) would sort first forever, so they are left out.
    """
    s = steps.c
    newest = sa.func.max(s.started_at)
    query = (
        sa.select(s.parent_span_id)
        .where(s.run_id.is_(None), s.parent_span_id.is_not(None), s.started_at <= now + FUTURE_SLACK)
        .group_by(s.parent_span_id)
        .order_by(newest.desc(), s.parent_span_id)
        .limit(limit or SWEEP_ORPHAN_PARENTS)
    )
    return set(conn.scalars(query))


def lookup_runs(conn: sa.Connection, ids: set[str]) -> dict[str, str | None]:
    return dict(_run_of(conn, ids))


def relink(conn: sa.Connection, frontier: set[str], check_roots: set[str]) -> set[str]:
    """Link orphans below ``frontier``, then repair roots below ``check_roots`` and below every run
    whose parent was just found; return the runs whose steps, parent or root changed."""
    changed: set[str] = set()
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        linked_steps, linked_runs = _link_round(conn, frontier)
        changed |= set(linked_steps.values()) | set(linked_runs)
        frontier = set(linked_steps) | set(linked_runs)
    if changed or check_roots:
        changed |= _follow_roots(conn, changed | check_roots)
    return changed


def _orphans(conn: sa.Connection, parents: list[str]) -> tuple[list[Any], list[Any]]:
    """Steps without a run and runs without a parent run whose parent span is in ``parents``: one query."""
    s, r = steps.c, runs.c
    orphan_steps = sa.select(sa.literal("step").label("kind"), s.span_id.label("id"), s.parent_span_id).where(
        s.run_id.is_(None), one_of(conn, s.parent_span_id, parents)
    )
    orphan_runs = sa.select(sa.literal("run").label("kind"), r.run_id.label("id"), r.parent_span_id).where(
        r.parent_run_id.is_(None), one_of(conn, r.parent_span_id, parents), r.run_id != r.parent_span_id
    )
    found = list(conn.execute(sa.union_all(orphan_steps, orphan_runs)))
    return [(i, p) for k, i, p in found if k == "step"], [(i, p) for k, i, p in found if k == "run"]


def _link_round(conn: sa.Connection, frontier: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    linked_steps: dict[str, str] = {}
    linked_runs: dict[str, str] = {}
    for chunk in _chunks(frontier):
        orphan_steps, orphan_runs = _orphans(conn, chunk)
        owners = _run_of(conn, {parent for _, parent in orphan_steps + orphan_runs})
        linked_steps.update({span: owners[parent] for span, parent in orphan_steps if parent in owners})
        linked_runs.update({run: owners[parent] for run, parent in orphan_runs if parent in owners})
    _set_step_runs(conn, linked_steps)
    _set_parent_runs(conn, linked_runs)
    return linked_steps, linked_runs


def _set_step_runs(conn: sa.Connection, linked: dict[str, str]) -> None:
    if not linked:
        return
    rows = [{"b_span": span, "b_run": run} for span, run in sorted(linked.items())]
    for table in (steps, failures):  # a failure row follows its step
        stmt = table.update().where(table.c.span_id == sa.bindparam("b_span"))
        conn.execute(stmt.values(run_id=sa.bindparam("b_run")), rows)


def _set_parent_runs(conn: sa.Connection, linked: dict[str, str]) -> None:
    if not linked:
        return
    rows = [{"b_run": run, "b_parent": parent} for run, parent in sorted(linked.items())]
    stmt = runs.update().where(runs.c.run_id == sa.bindparam("b_run"))
    conn.execute(stmt.values(parent_run_id=sa.bindparam("b_parent")), rows)


def _follow_roots(conn: sa.Connection, start: set[str]) -> set[str]:
    """Give every nested run its parent's root, down from the runs in ``start``."""
    changed: set[str] = set()
    frontier = set(start)
    child, parent = runs.alias("child"), runs.alias("parent")
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        updates: dict[str, str] = {}
        for chunk in _chunks(frontier):
            query = (
                sa.select(child.c.run_id, parent.c.root_run_id)
                .join(parent, parent.c.run_id == child.c.parent_run_id)
                .where(
                    sa.or_(one_of(conn, child.c.run_id, chunk), one_of(conn, child.c.parent_run_id, chunk)),
                    child.c.root_run_id != parent.c.root_run_id,
                )
            )
            updates.update({run: root for run, root in conn.execute(query)})
        if updates:
            rows = [{"b_run": r, "b_root": root} for r, root in sorted(updates.items())]
            stmt = runs.update().where(runs.c.run_id == sa.bindparam("b_run"))
            conn.execute(stmt.values(root_run_id=sa.bindparam("b_root")), rows)
        changed |= set(updates)
        frontier = set(updates)
    return changed
