"""One store interface over the SQL store (SQLite, PostgreSQL) and the ClickHouse store, picked by URL.

    store = open_store(url)        # sqlite:///..., postgresql://..., clickhouse://..., chdb:///...
    store.write(records); store.sweep()
    store.list_runs(RunFilter(...)); store.list_failures(); store.stalled_runs(False)
    store.usage_report(RunFilter(since=...), "model")

The SQL side is the existing code unchanged (Materialiser, otel_agent.store.queries and .report) behind
this interface; the ClickHouse side is otel_agent.store.clickhouse. The sink and the CLI go through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from otel_agent.record import SpanRecord
from otel_agent.record_enrich import RecordEnricher
from otel_agent.store import migrate, queries, report
from otel_agent.store import models as M
from otel_agent.store.clickhouse import ClickHouseStore, is_clickhouse_url
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import database_url, make_engine
from otel_agent.store.materialiser import DEFAULT_STALL_AFTER_S, Materialiser, WriteResult
from otel_agent.store.sqlparts import one_of

_CHUNK = 500  # trace ids per IN (...) list


class Store(Protocol):
    """What the sink, the CLI and the API's report need of a store, whatever the engine."""

    def write(self, records: Iterable[SpanRecord]) -> WriteResult: ...
    def sweep(self, stall_after_s: float = ..., now: datetime | None = None) -> list[str]: ...
    def list_runs(self, where: queries.RunFilter) -> list[dict[str, Any]]: ...
    def list_failures(
        self, run_id: str | None = None, category: str | None = None, open_only: bool = False,
        since: datetime | None = None, limit: int = 50,
    ) -> list[dict[str, Any]]: ...  # fmt: skip
    def stalled_runs(self, include_running: bool, limit: int = 100) -> list[dict[str, Any]]: ...
    def usage_report(self, where: queries.RunFilter, by: str) -> list[dict[str, Any]]: ...
    def traces_with_runs(self, trace_ids: set[str]) -> set[str]: ...
    def is_current(self) -> bool: ...
    def upgrade(self) -> object: ...
    def close(self) -> None: ...


class SqlStore:
    """The SQL store (SQLite or PostgreSQL) behind the Store interface."""

    def __init__(
        self,
        url: str | None = None,
        content: ContentPolicy | None = None,
        for_writing: bool = True,
        enricher: RecordEnricher | None = None,
    ):
        self.url = database_url(url)
        self.engine = make_engine(self.url, for_writing=for_writing)
        self.materialiser = Materialiser(self.engine, content, enricher=enricher)

    def write(self, records: Iterable[SpanRecord]) -> WriteResult:
        return self.materialiser.write(records)

    def sweep(self, stall_after_s: float = DEFAULT_STALL_AFTER_S, now: datetime | None = None) -> list[str]:
        return self.materialiser.sweep(stall_after_s, now)

    def list_runs(self, where: queries.RunFilter) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.list_runs(conn, where)

    def list_failures(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.list_failures(conn, *args, **kwargs)

    def stalled_runs(self, include_running: bool, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.stalled_runs(conn, include_running, limit)

    def usage_report(self, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return report.usage_report(conn, where, by)

    def traces_with_runs(self, trace_ids: set[str]) -> set[str]:
        """Which of these traces hold a run already (the sink keeps only agent runs' spans)."""
        runs = M.runs.c
        found: set[str] = set()
        ordered = sorted(trace_ids)
        self.materialiser._ensure_schema()  # the first write of a fresh database creates the tables
        with self.engine.connect() as conn:
            for i in range(0, len(ordered), _CHUNK):
                chunk = ordered[i : i + _CHUNK]
                query = sa.select(runs.trace_id).where(one_of(conn, runs.trace_id, chunk)).distinct()
                found.update(conn.scalars(query))
        return found

    def is_current(self) -> bool:
        return migrate.is_current(self.engine)

    def upgrade(self) -> None:
        # A reader's SQLite engine begins deferred transactions; migrate through a writer's.
        writer = make_engine(self.url)
        try:
            migrate.upgrade(writer)
        finally:
            writer.dispose()

    def close(self) -> None:
        self.engine.dispose()


def open_store(
    url: str | None = None,
    content: ContentPolicy | None = None,
    for_writing: bool = True,
    enricher: RecordEnricher | None = None,
) -> Store:
    """The store at ``url`` (default: OTEL_AGENT_DATABASE_URL, else the SQLite file). Both backends run
    ``enricher`` (default: the bundled prices) over every record before it becomes rows."""
    url = database_url(url)
    if is_clickhouse_url(url):
        return ClickHouseStore(url, content, enricher=enricher)
    return SqlStore(url, content, for_writing, enricher)


def sql_engine(store: Store) -> sa.Engine | None:
    """The SQLAlchemy engine behind a SQL store (None for ClickHouse): for what only SQL has (the API)."""
    return store.engine if isinstance(store, SqlStore) else None
