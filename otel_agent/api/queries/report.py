"""The usage and cost report for one workspace: the store's report (otel_agent.store.report, also behind
`otel-agent report`) over the runs of the caller's workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from otel_agent.api.scope import run_in
from otel_agent.store import queries
from otel_agent.store.report import usage_report

__all__ = ["WorkspaceRunFilter", "usage_report"]


@dataclass(frozen=True)
class WorkspaceRunFilter(queries.RunFilter):
    """The CLI's run filter with the API's workspace rule (runs without one are "default"'s)."""

    def workspace_condition(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        assert self.workspace is not None, "the API always scopes to a workspace"
        return run_in(self.workspace, column)
