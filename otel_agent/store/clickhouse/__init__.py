"""The store on ClickHouse: a server or cluster (clickhouse-connect) or chDB in-process, chosen by URL.

    from otel_agent.store.backend import open_store
    store = open_store("chdb:///var/lib/otel-agent/ch")     # or clickhouse://user:pw@host:8123/db
    store.write(records); store.sweep(); store.usage_report(RunFilter(since=...), "model")

Same semantics, CLI, API report and figures as the SQL store; docs/clickhouse.md explains the design.
"""

from __future__ import annotations

from typing import Any

from otel_agent.store import queries
from otel_agent.store.clickhouse.client import ClickHouseUnavailable, is_clickhouse_url, one_of
from otel_agent.store.clickhouse.links import _chunks
from otel_agent.store.clickhouse.reader import ClickHouseReader
from otel_agent.store.clickhouse.writer import ClickHouseWriter


class ClickHouseStore(ClickHouseWriter):
    """The writer (the Materialiser's write and sweep) and the reader (list_runs, usage_report, ...) on
    one connection: otel_agent.store.backend.Store."""

    @property
    def reader(self) -> ClickHouseReader:
        self._ensure_schema()
        return ClickHouseReader(self.client)

    def list_runs(self, where: queries.RunFilter) -> list[dict[str, Any]]:
        return self.reader.list_runs(where)

    def list_failures(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.reader.list_failures(*args, **kwargs)

    def stalled_runs(self, include_running: bool, limit: int = 100) -> list[dict[str, Any]]:
        return self.reader.stalled_runs(include_running, limit)

    def usage_report(self, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
        return self.reader.usage_report(where, by)

    def traces_with_runs(self, trace_ids: set[str]) -> set[str]:
        """Which of these traces hold a run already (the sink keeps only agent runs' spans)."""
        self._ensure_schema()
        found: set[str] = set()
        for chunk in _chunks(trace_ids):
            query = f"SELECT DISTINCT trace_id FROM otel_ch_run_facts WHERE trace_id IN {one_of(chunk)}"
            rows = self.client.rows(query)
            found.update(row["trace_id"] for row in rows)
        return found


__all__ = ["ClickHouseStore", "ClickHouseUnavailable", "is_clickhouse_url"]
