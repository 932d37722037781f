"""One idempotent upsert for SQLite and PostgreSQL: INSERT ... ON CONFLICT (key) DO UPDATE / NOTHING.

Each updated column names how the stored and the incoming value merge, so that applying the same rows
twice, or two sources in either order, converges to the same row:

* ``NEW``          the incoming value (authoritative source)
* ``NEW_OR_OLD``   the incoming value unless it is NULL
* ``OLD_OR_NEW``   the stored value unless it is NULL (fill gaps only)
* ``GREATEST``     the larger of the two (NULL-safe)
"""

from __future__ import annotations

import enum
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

COPY_MIN_ROWS = 8  # PostgreSQL: below this, arrays in one statement beat COPY + INSERT ... SELECT
STAGING_TRUNCATE_EVERY = 64  # uses of a staging table between two TRUNCATEs


class Merge(enum.Enum):
    NEW = "new"
    NEW_OR_OLD = "new_or_old"
    OLD_OR_NEW = "old_or_new"
    GREATEST = "greatest"


def _merged(merge: Merge, old: Any, new: Any) -> Any:
    if merge is Merge.NEW:
        return new
    if merge is Merge.NEW_OR_OLD:
        return sa.func.coalesce(new, old)
    if merge is Merge.OLD_OR_NEW:
        return sa.func.coalesce(old, new)
    # CASE rather than GREATEST(): SQLite has no GREATEST and its MAX() returns NULL with a NULL argument.
    return sa.case((old.is_(None), new), (new.is_(None), old), (new > old, new), else_=old)


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"otel-agent store supports SQLite and PostgreSQL, not {dialect}")


def dedupe(rows: Iterable[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """Last row per key, sorted by key: one statement may not touch a row twice, and a fixed order
    keeps concurrent writers from deadlocking."""
    if len(key) == 1:
        (name,) = key
        single = {row[name]: row for row in rows}
        return [single[k] for k in sorted(single)]
    by_key = {tuple(row[k] for k in key): row for row in rows}
    return [by_key[k] for k in sorted(by_key)]


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    merges: Mapping[str, Merge] | None = None,
    mostly_new: bool = False,
) -> None:
    """Insert ``rows`` (all with the same keys, unique on ``key``); on conflict merge as told, or keep
    the stored row when ``merges`` is empty. ``mostly_new``: the keys are usually not stored yet (a
    span's first delivery), so PostgreSQL first tries to COPY them straight in."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) > 1:
        # One statement per batch rather than one per row: COPY for most, arrays for a handful.
        if len(rows) < COPY_MIN_ROWS:
            _upsert_unnest(conn, table, rows, key, merges)
        elif mostly_new:
            _upsert_copy(conn, table, rows, key, merges)
        else:
            _upsert_staged(conn, table, rows, key, merges)
        return
    dialect = conn.dialect.name

    def build() -> Any:
        return _conflict(_insert(dialect, table), table, key, merges)

    conn.execute(_cached(("rows", dialect, table.name, key, merges), build), list(rows))


_statements: dict[tuple[Any, ...], Any] = {}


def _cached(parts: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """Statements built once per shape: building one (and its cache key) costs more than running it."""
    key = tuple(_hashable(p) for p in parts)
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = build()
    return stmt


def _hashable(part: Any) -> Any:
    if isinstance(part, Mapping):
        return tuple(sorted((k, v.value) for k, v in part.items()))
    return tuple(part) if isinstance(part, list) else part


def _conflict(stmt: Any, table: sa.Table, key: Sequence[str], merges: Mapping[str, Merge] | None) -> Any:
    if merges:
        set_ = {col: _merged(m, table.c[col], stmt.excluded[col]) for col, m in merges.items()}
        return stmt.on_conflict_do_update(index_elements=list(key), set_=set_)
    return stmt.on_conflict_do_nothing(index_elements=list(key))


def _copy_value(value: Any) -> Any:
    # psycopg packs str, numbers, datetimes and None itself; JSON goes as a Jsonb of its value.
    if isinstance(value, (dict, list)):
        from psycopg.types.json import Jsonb  # only here: psycopg is the optional postgres extra

        return Jsonb(value, dumps=_compact_json)
    return value


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _staging_table(conn: sa.Connection, table: sa.Table) -> str:
    """An empty temporary copy of ``table`` without constraints (columns a batch lacks stay NULL there).
    Created if missing in the same round trip that empties it, so a transaction that rolled back its
    creation cannot leave this connection without one. Not ``ON COMMIT DELETE ROWS``: that truncation
    made every COMMIT cost 3 to 4 ms, a fifth of a 512-span batch's time."""
    staging = f"otel_stage_{table.name}"
    uses = conn.connection.info.setdefault("otel_agent_staging_uses", {})
    uses[staging] = uses.get(staging, 0) + 1
    # DELETE is cheap but leaves dead rows (temporary tables are never autovacuumed): TRUNCATE now and
    # then keeps the table small.
    empty = "TRUNCATE" if uses[staging] % STAGING_TRUNCATE_EVERY == 0 else "DELETE FROM"
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT * FROM {table.name} WITH NO DATA; "
        f"{empty} {staging}"
    )
    return staging


def _array_type(column: sa.Column[Any]) -> Any:
    inner = column.type.impl if isinstance(column.type, sa.TypeDecorator) else column.type
    if isinstance(inner, (sa.JSON, postgresql.JSONB)):
        inner = postgresql.JSONB()
    return postgresql.ARRAY(inner)


def _upsert_unnest(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    merges: Mapping[str, Merge] | None,
) -> None:
    """PostgreSQL: INSERT ... SELECT unnest(one array per column) ... ON CONFLICT, one round trip."""
    names = list(rows[0])

    def build() -> Any:
        columns = [table.c[n] for n in names]
        arrays = [sa.func.unnest(sa.bindparam(c.name, type_=_array_type(c))).label(c.name) for c in columns]
        return _conflict(postgresql.insert(table).from_select(names, sa.select(*arrays)), table, key, merges)

    stmt = _cached(("unnest", table.name, names, key, merges), build)
    conn.execute(stmt, {n: [row[n] for row in rows] for n in names})


def _copy_rows(conn: sa.Connection, target: str, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Binary COPY: psycopg packs each value in C and the server parses nothing (text COPY spent server
    CPU on every timestamp and number). JSON goes as its text, which the jsonb type reads."""
    names = list(rows[0])
    values = operator.itemgetter(*names)
    json_at = [i for i, n in enumerate(names) if isinstance(table.c[n].type, sa.JSON)]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    types = _cached(("copy types", table.name, names), lambda: [_copy_type(table.c[n]) for n in names])
    with cursor.copy(f"COPY {target} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            line = values(row)
            if json_at:
                line = list(line)
                for i in json_at:
                    line[i] = _copy_value(line[i])
            copy.write_row(line)


# SQLAlchemy type (as PostgreSQL spells it) -> the type name psycopg packs binary COPY values as.
_COPY_TYPES = {
    "BIGINT": "int8", "INTEGER": "int4", "FLOAT": "float8", "BOOLEAN": "bool", "JSONB": "jsonb",
    "TEXT": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz",
}  # fmt: skip


def _copy_type(column: sa.Column[Any]) -> str:
    spelled = column.type.compile(dialect=postgresql.dialect())
    return "varchar" if spelled.startswith("VARCHAR") else _COPY_TYPES[spelled]


def _upsert_copy(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    merges: Mapping[str, Merge] | None,
) -> None:
    """New rows (the usual case: a span's first delivery) are COPYed straight into the table, in a
    savepoint; if any key exists already, that is undone and the batch is merged through staging."""
    try:
        with conn.begin_nested():
            _copy_rows(conn, table.name, table, rows)
        return
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != "23505":  # unique_violation: a redelivery
            raise
    _upsert_staged(conn, table, rows, key, merges)


def _upsert_staged(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    merges: Mapping[str, Merge] | None,
) -> None:
    """PostgreSQL: COPY the batch into a session-local staging table, then one INSERT ... SELECT ...
    ON CONFLICT. COPY is the fastest way into PostgreSQL; one statement per batch instead of one per row."""
    names = list(rows[0])
    staging = _staging_table(conn, table)  # empty
    _copy_rows(conn, staging, table, rows)

    def build() -> Any:
        source = sa.table(staging, *[sa.column(n) for n in names])
        select = sa.select(*[source.c[n] for n in names])
        return _conflict(postgresql.insert(table).from_select(names, select), table, key, merges)

    conn.execute(_cached(("staged", table.name, names, key, merges), build))
