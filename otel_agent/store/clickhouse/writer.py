"""The ClickHouse store's write path: the SQL store's batch plan, appended as facts, then links repaired.

Guarantees (as otel_agent.store.materialiser): idempotent and order-free, because every row is a fact
that repeating cannot change (read with FINAL or with argMax/min/max) and links only move towards more
knowledge. No transaction spans the three tables: if an insert fails half way, the caller's retry (the
sink's spool) appends the same facts again, which changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from otel_agent.guard import guard, record_failure
from otel_agent.record import SpanRecord
from otel_agent.record_enrich import RecordEnricher
from otel_agent.store.clean import span_id
from otel_agent.store.clickhouse import facts, links, migrate, views
from otel_agent.store.clickhouse.client import ClickHouseUnavailable, Client, connect, literal
from otel_agent.store.clickhouse.schema import FAILURE_COLUMNS, RUN_FACT_COLUMNS, STEP_COLUMNS
from otel_agent.store.content import ContentPolicy
from otel_agent.store.materialiser import DEFAULT_STALL_AFTER_S, StoreUnavailable, WriteResult, _log_stall
from otel_agent.store.plan import BatchPlan, plan_batch
from otel_agent.store.rows import stall_failure_row

_log = logging.getLogger(__name__)


def _unavailable(exc: BaseException) -> bool:
    """Not the data's fault: no server, no chDB, a dropped connection."""
    names = {c.__name__ for c in type(exc).__mro__}
    return isinstance(exc, (ClickHouseUnavailable, OSError)) or "OperationalError" in names


class ClickHouseWriter:
    """SpanRecord batches -> facts in ClickHouse (a server through clickhouse-connect, or chDB)."""

    def __init__(
        self,
        url: str,
        content: ContentPolicy | None = None,
        ensure_schema: bool = True,
        enricher: RecordEnricher | None = None,
    ) -> None:
        self.url = url
        self.content = content or ContentPolicy()
        self.enricher = enricher or RecordEnricher()  # the same enrichment as the SQL Materialiser
        self._client: Client | None = None
        self._schema_checked = not ensure_schema
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = connect(self.url)
            return self._client

    def upgrade(self) -> list[int]:
        applied = migrate.upgrade(self.client)
        self._schema_checked = True
        return applied

    def is_current(self) -> bool:
        return migrate.is_current(self.client)

    def _ensure_schema(self) -> None:
        if not self._schema_checked:
            if not self.is_current():
                self.upgrade()
            self._schema_checked = True

    def write(self, records: Iterable[SpanRecord]) -> WriteResult:
        """Store a batch. Raises StoreUnavailable only if ClickHouse cannot be reached."""
        batch = [r for r in records]
        good = [self.enricher.enrich(r) for r in batch if span_id(r.span_id) and span_id(r.trace_id)]
        invalid = len(batch) - len(good)
        try:
            self._ensure_schema()
            self._write(good)
            return WriteResult(len(good), invalid)
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(str(exc)) from exc
            record_failure("store.clickhouse.batch", exc)
        rejected = 0
        for record in good:  # one by one: only the record ClickHouse refuses is lost
            try:
                self._write([record])
            except Exception as exc:
                if _unavailable(exc):
                    raise StoreUnavailable(str(exc)) from exc
                rejected += 1
                record_failure("store.clickhouse.record", exc)
        return WriteResult(len(good) - rejected, rejected + invalid)

    def _write(self, records: Sequence[SpanRecord]) -> None:
        now = datetime.now(timezone.utc)
        client = self.client
        plan = plan_batch(records, lambda ids: links.lookup_runs(client, ids), self.content, now)
        _append(client, plan)
        # Steps waiting for a run that this batch brought, and roots below this batch's runs.
        links.relink(client, plan.span_ids() | _awaited(plan), plan.roots_to_check())

    def sweep(
        self, stall_after_s: float = DEFAULT_STALL_AFTER_S, now: datetime | None = None, rollup: bool = True
    ) -> list[str]:
        """Append a stall failure for each running run silent for longer than ``stall_after_s`` (the run
        reads as stalled from then on) and link orphans whose parents arrived meanwhile. ``rollup`` is
        accepted for the SQL store's signature: ClickHouse aggregates on read, there is no roll-up."""
        self._ensure_schema()
        now = now or datetime.now(timezone.utc)
        cutoff = now - timedelta(seconds=stall_after_s)
        stale = self.client.rows(f"""
SELECT run_id, trace_id, name, project, stage, agent_role, agent_name, user_id FROM ({views.runs()})
WHERE status = 'running' AND coalesce(last_heartbeat_at, started_at) < {literal(cutoff)} ORDER BY run_id""")
        rows = [{**stall_failure_row(run, stall_after_s, now), "link_rank": 1} for run in stale]
        self.client.insert("otel_ch_failures", FAILURE_COLUMNS, rows)
        for run in stale:
            _log_stall(run, stall_after_s)
        with guard("store.clickhouse.relink"):
            frontier = links.orphan_parents(self.client)
            links.relink(self.client, set(links.lookup_runs(self.client, frontier)), set())
        return [run["run_id"] for run in stale]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _awaited(plan: BatchPlan) -> set[str]:
    parents = {row["parent_span_id"] for row in plan.steps if row["run_id"] is None}
    parents.discard(None)
    return parents


def _append(client: Client, plan: BatchPlan) -> None:
    """Steps and failures first, the runs' own facts last: a reader that sees a run sees its steps."""
    client.insert("otel_ch_steps", STEP_COLUMNS, facts.steps(plan))
    client.insert("otel_ch_failures", FAILURE_COLUMNS, facts.failures(plan))
    client.insert("otel_ch_run_facts", RUN_FACT_COLUMNS, facts.run_facts(plan))
