"""Which runs belong to a workspace.

A run's workspace is its ``otel_agent.workspace`` attribute. Runs recorded without one (a
single-tenant app never sets it) belong to the ``default`` workspace, so a token for "default" sees
them: adopting the API needs no new attribute. Every query of the API goes through ``run_in``.
"""

from __future__ import annotations

import sqlalchemy as sa

from otel_agent.store.models import runs

DEFAULT_WORKSPACE = "default"


def run_in(workspace: str) -> sa.ColumnElement[bool]:
    """The condition on ``otel_runs`` that selects one workspace's runs."""
    if workspace == DEFAULT_WORKSPACE:
        return sa.or_(runs.c.workspace == workspace, runs.c.workspace.is_(None))
    return runs.c.workspace == workspace
