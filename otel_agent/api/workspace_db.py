"""The API's second wall: on PostgreSQL, every transaction of a request runs as the role
``otel_agent_api`` with ``otel_agent.workspace`` set to the caller's workspace, and the row-level
security policies of migration store_0003_rls show that role only that workspace's rows. A query that
forgot its ``run_in`` filter still sees one workspace. SQLite has no roles: the filters are the only wall.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

WORKSPACE_OPTION = "otel_agent_workspace"  # execution option carrying the caller's workspace
API_ROLE = "otel_agent_api"


def bind_workspaces(engine: sa.Engine) -> None:
    """Make ``for_workspace(engine, ws)`` connections switch role and workspace at each BEGIN."""
    if engine.dialect.name != "postgresql" or sa.event.contains(engine, "begin", _enter_workspace):
        return
    sa.event.listen(engine, "begin", _enter_workspace)


def for_workspace(engine: sa.Engine, workspace: str) -> sa.Engine:
    """The same engine (same pool), its transactions bound to ``workspace``."""
    return engine.execution_options(**{WORKSPACE_OPTION: workspace})


def _enter_workspace(conn: sa.Connection) -> None:
    workspace: Any = conn.get_execution_options().get(WORKSPACE_OPTION)
    if workspace is None:
        return
    # SET LOCAL and set_config(..., true) last until the transaction ends: a pooled connection
    # goes back to the pool as the login role with no workspace.
    conn.exec_driver_sql(f"SET LOCAL ROLE {API_ROLE}")
    conn.exec_driver_sql("SELECT set_config('otel_agent.workspace', %(ws)s, true)", {"ws": str(workspace)})
