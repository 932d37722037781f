"""The store on ClickHouse: a server or cluster (clickhouse-connect) or chDB in-process, chosen by URL.

    from otel_agent.store.backend import open_store
    store = open_store("chdb:///var/lib/otel-agent/ch")     # or clickhouse://user:pw@host:8123/db
    store.write(records); store.sweep(); store.usage_report(RunFilter(since=...), "model")

Same semantics, CLI, API report and figures as the SQL store; docs/clickhouse.md explains the design.
"""

from __future__ import annotations

from otel_agent.store.clickhouse.client import ClickHouseUnavailable, is_clickhouse_url
from otel_agent.store.clickhouse.reader import ClickHouseReader
from otel_agent.store.clickhouse.writer import ClickHouseWriter


class ClickHouseStore(ClickHouseWriter):
    """The writer (Materialiser's write/sweep) and the reader (list_runs, usage_report, ...) on one
    connection."""

    @property
    def reader(self) -> ClickHouseReader:
        self._ensure_schema()
        return ClickHouseReader(self.client)


__all__ = ["ClickHouseStore", "ClickHouseUnavailable", "is_clickhouse_url"]
