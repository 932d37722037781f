"""Attribution inheritance in the store: a nested run carries its parent run's attribution, and a step
its run's, when their own spans did not say (spans from another language, or foreign SDKs that put
``user.id`` on the root span only). Their own values always win.

Order-free: it runs for every run a batch touches, and for the runs below them, so a parent arriving
after its children fills them in then. In-process spans carry their attribution already (the start
processor copies it), so for them these statements match no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from otel_agent.store import models as M
from otel_agent.store.engine import is_postgres
from otel_agent.store.sqlparts import one_of

RUN_COLUMNS = ("project", "stage", "agent_role", "user_id", "workspace", "tags")
STEP_COLUMNS = ("project", "stage", "agent_role", "user_id")
MAX_DEPTH = 16  # nesting levels filled per batch; deeper ones are filled by later batches
_CHUNK = 500


def _empty(column: Any, postgres: bool) -> Any:
    """NULL, or on PostgreSQL also a JSON null (what a NULL in a jsonb array parameter becomes)."""
    if postgres and isinstance(column.type, sa.JSON):
        return sa.or_(column.is_(None), sa.func.jsonb_typeof(column) == "null")
    return column.is_(None)


def _fill(table: sa.Table, owner_id: Any, columns: Sequence[str], where: Any, postgres: bool) -> sa.Update:
    """UPDATE table SET col = owner's col where col is empty and the owner has it (own values win)."""
    owner = M.runs.alias("owner")

    def owners(column: str) -> Any:
        return sa.select(owner.c[column]).where(owner.c.run_id == owner_id).scalar_subquery()

    def owner_has(column: str) -> Any:
        found = sa.not_(_empty(owner.c[column], postgres))
        return sa.exists().where(owner.c.run_id == owner_id, found)

    gaps = sa.or_(*[sa.and_(_empty(table.c[c], postgres), owner_has(c)) for c in columns])
    values = {c: sa.case((_empty(table.c[c], postgres), owners(c)), else_=table.c[c]) for c in columns}
    return table.update().where(where, gaps).values(values)


def fill_attribution(conn: sa.Connection, run_ids: set[str]) -> None:
    ids = sorted(run_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        _fill_runs(conn, chunk)
        s = M.steps
        conn.execute(_fill(s, s.c.run_id, STEP_COLUMNS, one_of(conn, s.c.run_id, chunk), is_postgres(conn)))


def _fill_runs(conn: sa.Connection, chunk: list[str]) -> None:
    """Nested runs of the touched runs' trees, one level per pass, until nothing changes."""
    r, touched = M.runs, M.runs.alias("touched")
    roots = sa.select(touched.c.root_run_id).where(one_of(conn, touched.c.run_id, chunk))
    where = sa.and_(r.c.parent_run_id.is_not(None), r.c.root_run_id.in_(roots))
    statement = _fill(r, r.c.parent_run_id, RUN_COLUMNS, where, is_postgres(conn))
    for _ in range(MAX_DEPTH):
        if not conn.execute(statement).rowcount:
            return
