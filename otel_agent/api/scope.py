"""Which runs belong to a workspace.

A run's workspace is its ``otel_agent.workspace`` attribute. Runs recorded without one (a
single-tenant app never sets it) belong to the ``default`` workspace, so a token for "default" sees
them: adopting the API needs no new attribute. Every query of the API goes through ``run_in``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from otel_agent.store.models import runs

DEFAULT_WORKSPACE = "default"


def run_in(workspace: str, column: sa.ColumnElement[Any] = runs.c.workspace) -> sa.ColumnElement[bool]:
    """The condition on ``otel_runs`` (or another table's workspace ``column``) that selects one
    workspace's rows."""
    if workspace == DEFAULT_WORKSPACE:
        return sa.or_(column == workspace, column.is_(None))
    return column == workspace
