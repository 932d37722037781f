"""Small SQL pieces that differ by dialect."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_HEX_IDS = re.compile(r"[0-9a-f]{1,32}(?:,[0-9a-f]{1,32})*")


def pg_ids(ids: Sequence[str]) -> str | list[str]:
    """A PostgreSQL array parameter of ids (cast it to ``varchar[]``). Span and run ids are hex, so they
    go as one array literal, a str psycopg sends as is; a list it would dump item by item in Python
    (a quarter of a millisecond per 500 ids, several times per batch). Anything else stays a list."""
    joined = ",".join(ids)
    return "{" + joined + "}" if _HEX_IDS.fullmatch(joined) else list(ids)


def one_of(conn: sa.Connection, column: Any, ids: Sequence[str]) -> Any:
    """``column IN ids`` with the ids as ONE parameter (``= ANY(array)`` on PostgreSQL, ``json_each`` on
    SQLite): the statement text, and so its cached plan, does not change with the number of ids."""
    if conn.dialect.name == "postgresql":
        ids_param = pg_ids(ids)
        array: Any
        if isinstance(ids_param, str):
            array = sa.cast(sa.bindparam(None, ids_param, type_=sa.String), postgresql.ARRAY(sa.String))
        else:
            array = sa.bindparam(None, ids_param, type_=postgresql.ARRAY(sa.String))
        # IN (SELECT unnest(...)), not = ANY(...): a semi-join the planner can hash or drive through the
        # primary key, where ANY compares each scanned row with the whole array, which on freshly filled
        # tables (stale statistics, so a scan looks cheap) grew with table size x batch size.
        return column.in_(sa.select(sa.func.unnest(array)).scalar_subquery())
    if conn.dialect.name == "sqlite":  # the same idea: one JSON parameter, unpacked by json_each
        values = sa.func.json_each(sa.bindparam(None, json.dumps(list(ids)), type_=sa.String)).table_valued(
            "value"
        )
        return column.in_(sa.select(values.c.value))
    return column.in_(list(ids))
