"""Small SQL pieces that differ by dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def one_of(conn: sa.Connection, column: Any, ids: Sequence[str]) -> Any:
    """``column IN ids``. On PostgreSQL as ``= ANY(array)``: one parameter, so the statement text (and
    its plan) does not change with the number of ids, and a long list costs no planning time."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.String)))
    return column.in_(list(ids))
