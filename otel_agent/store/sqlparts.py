"""Small SQL pieces that differ by dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def one_of(conn: sa.Connection, column: Any, ids: Sequence[str]) -> Any:
    """``column IN ids`` with the ids as ONE parameter (``= ANY(array)`` on PostgreSQL, ``json_each`` on
    SQLite): the statement text, and so its cached plan, does not change with the number of ids."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.String)))
    if conn.dialect.name == "sqlite":  # the same idea: one JSON parameter, unpacked by json_each
        values = sa.func.json_each(sa.bindparam(None, json.dumps(list(ids)), type_=sa.String)).table_valued(
            "value"
        )
        return column.in_(sa.select(values.c.value))
    return column.in_(list(ids))
