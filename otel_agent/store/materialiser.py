"""The materialiser: finished spans (as neutral SpanRecords) -> run, step and failure rows.

Usage (the SQL exporter and the OTLP sink both do exactly this)::

    from otel_agent.store import Materialiser, make_engine
    materialiser = Materialiser(make_engine("postgresql+psycopg://..."))   # or make_engine() for SQLite
    result = materialiser.write(records)        # -> WriteResult(written=..., rejected=...)
    materialiser.sweep()                        # now and then: mark stalled runs, link late orphans

Guarantees: idempotent (a span written twice changes nothing), order-free (children before parents,
any batch split, several processes), run totals always equal the sums over their steps. The schema is
upgraded on first use. A record that cannot be stored is rejected alone (batch -> savepoint per record)
and counted; ``StoreUnavailable`` is raised only when the database cannot be reached at all, so the
caller can spool the batch and replay it later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from opentelemetry.trace import SpanContext, TraceFlags

from otel_agent import attributes as A
from otel_agent.guard import guard, record_failure
from otel_agent.logs.events import log_run_event
from otel_agent.metrics.stalls import record_stalled
from otel_agent.record import SpanRecord
from otel_agent.record_enrich import RecordEnricher
from otel_agent.store import call_rollup, exchanges, inherit, links, totals
from otel_agent.store import models as M
from otel_agent.store.clean import span_id
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import is_postgres
from otel_agent.store.migrate import is_current, upgrade
from otel_agent.store.plan import BatchPlan, plan_batch
from otel_agent.store.rows import stall_failure_row
from otel_agent.store.sqlparts import pg_ids
from otel_agent.store.upsert import Merge, dedupe, upsert

_log = logging.getLogger(__name__)

DEFAULT_STALL_AFTER_S = 600.0
MAX_ATTEMPTS = 3  # of one batch, when PostgreSQL aborts it to break a deadlock

_N, _NO, _ON, _MAX = Merge.NEW, Merge.NEW_OR_OLD, Merge.OLD_OR_NEW, Merge.GREATEST
_RUN_FACTS = (
    "name", "operation", "project", "stage", "agent_role", "user_id", "agent_name", "workflow_name",
    "workspace", "trigger_type", "trigger_id", "session_id", "conversation_id", "request_id",
    "service_name", "tags", "input_content", "output_content",
)  # fmt: skip
# The run's own span is authoritative; markers only fill gaps and move the heartbeat forward.
RUN_SPAN_MERGES = {
    **dict.fromkeys(_RUN_FACTS, _NO),
    **dict.fromkeys(("trace_id", "parent_span_id", "parent_run_id", "started_at", "ended_at"), _NO),
    **dict.fromkeys(("status", "root_run_id", "duration_ms", "error_category", "error_message"), _N),
    "span_seen": _N,
    "updated_at": _N,
}
MARKER_MERGES = {
    **dict.fromkeys(_RUN_FACTS, _ON),
    "parent_run_id": _ON,
    "started_at": _NO,
    "last_heartbeat_at": _MAX,
    "updated_at": _N,
}
# duplicate_of is store.exchanges' alone: a span delivered again must not reset it.
_STEP_COLUMNS = [c.name for c in M.steps.columns if c.name not in ("span_id", "duplicate_of")]
STEP_MERGES = {**dict.fromkeys(_STEP_COLUMNS, _N), "run_id": _NO}
_FAILURE_COLUMNS = [
    c.name for c in M.failures.columns if c.name not in ("failure_id", "resolved", "resolved_at")
]
FAILURE_MERGES = {**dict.fromkeys(_FAILURE_COLUMNS, _N), "run_id": _NO}


class StoreUnavailable(Exception):
    """The database could not be reached (or is locked); nothing of the batch was written."""


@dataclass(frozen=True)
class WriteResult:
    written: int
    rejected: int


def _sqlstate(exc: BaseException) -> str:
    """PostgreSQL's error code, whether SQLAlchemy wrapped the driver's error or not (COPY runs on the
    driver's cursor directly)."""
    return str(getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def _transient(exc: BaseException) -> bool:
    """A deadlock or serialisation failure: the same transaction will likely succeed if run again."""
    return _sqlstate(exc) in ("40001", "40P01")


# Connection lost, server shutting down or out of resources, statement timeout (57014): not the data.
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")


def _unavailable(exc: BaseException) -> bool:
    if _transient(exc):
        return False
    if _sqlstate(exc)[:2] in _UNAVAILABLE_CLASSES:
        return True
    if any(c.__name__ in ("OperationalError", "InterfaceError") for c in type(exc).__mro__):
        return True  # also the driver's own classes (DB-API names), unwrapped on the COPY path
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    )


def _valid(record: SpanRecord) -> bool:
    return bool(span_id(record.span_id) and span_id(record.trace_id))


class Materialiser:
    """SpanRecord batches -> otel_runs / otel_steps / otel_failures rows (see the module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        content: ContentPolicy | None = None,
        ensure_schema: bool = True,
        enricher: RecordEnricher | None = None,
    ):
        self.engine = engine
        self.content = content or ContentPolicy()
        # Normalise, price, classify what no processor did (spans from the sink, from other languages).
        self.enricher = enricher or RecordEnricher()
        self._schema_checked = not ensure_schema
        self._schema_lock = threading.Lock()

    def write(self, records: Iterable[SpanRecord]) -> WriteResult:
        """Store a batch. Raises StoreUnavailable only if the database is unreachable."""
        batch = list(records)
        good = [self.enricher.enrich(r) for r in batch if _valid(r)]
        invalid = len(batch) - len(good)
        if invalid:
            _log.warning("otel-agent store: rejected %d spans with malformed ids", invalid)
        if self._write_batch(good):
            return WriteResult(len(good), invalid)
        result = self._write_one_by_one(good)
        return WriteResult(result.written, result.rejected + invalid)

    def _write_batch(self, batch: Sequence[SpanRecord]) -> bool:
        """The whole batch in one transaction; retried when PostgreSQL broke a deadlock between writers.
        False when some record made it fail (the caller then goes record by record)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                self._ensure_schema()
                with self.engine.begin() as conn:
                    self._write(conn, batch)
                return True
            except Exception as exc:
                if _transient(exc) and attempt + 1 < MAX_ATTEMPTS:
                    continue
                # A deadlock that keeps coming back says nothing about the data: spool, never reject.
                if _unavailable(exc) or _transient(exc):
                    raise StoreUnavailable(str(exc)) from exc
                record_failure("store.batch", exc)
                return False
        return False

    def _write_one_by_one(self, batch: Sequence[SpanRecord]) -> WriteResult:
        """The batch failed: each record in its own savepoint, so only the bad ones are lost."""
        rejected = 0
        try:
            with self.engine.begin() as conn:
                for record in batch:
                    try:
                        with conn.begin_nested():
                            self._write(conn, [record])
                    except Exception as exc:
                        if _unavailable(exc) or _transient(exc):
                            raise
                        rejected += 1
                        record_failure("store.record", exc)
        except Exception as exc:
            if _unavailable(exc) or _transient(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise
        return WriteResult(len(batch) - rejected, rejected)

    def _ensure_schema(self) -> None:
        if self._schema_checked:
            return
        with self._schema_lock:
            if not self._schema_checked:
                if not is_current(self.engine):
                    upgrade(self.engine)
                self._schema_checked = True

    def _write(self, conn: sa.Connection, records: Sequence[SpanRecord]) -> None:
        now = datetime.now(timezone.utc)
        plan = plan_batch(records, lambda ids: links.lookup_runs(conn, ids), self.content, now)
        touched = plan.run_ids()
        awaited = _awaited_parents(plan)
        # Locking the orphans' parents too: a writer committing that parent run meanwhile (another sink
        # on the same database) either finishes first, and this batch links to it, or waits for this
        # batch and links it itself; neither misses the other until the next sweep.
        _lock_runs(conn, touched | awaited)
        _upsert_plan(conn, plan)
        relinked = links.relink(conn, plan.span_ids() | awaited, plan.roots_to_check())
        _lock_runs(conn, relinked - touched)  # late, out of order: a deadlock is possible, and retried
        touched |= relinked
        recounted = exchanges.reconcile(conn, plan.steps)
        _lock_runs(conn, recounted - touched)
        touched |= recounted
        inherit.fill_attribution(conn, touched)
        totals.recompute_totals(conn, touched)
        # Only a run ending, a new failure or a newly linked step can resolve a failure.
        ended_or_failed = {row["run_id"] for row in plan.runs} | {row["run_id"] for row in plan.failures}
        totals.resolve_failures(conn, (ended_or_failed - {None}) | relinked)

    def sweep(
        self, stall_after_s: float = DEFAULT_STALL_AFTER_S, now: datetime | None = None, rollup: bool = True
    ) -> list[str]:
        """Mark runs silent for longer than ``stall_after_s`` as stalled (with a failure row each), link
        orphans whose parents arrived through another process, and (``rollup``) rebuild a few changed
        periods of the LLM-call roll-up (PostgreSQL). Returns the newly stalled run ids. ``now`` (a fixed
        clock, for tests) defaults to this process's clock for stalls and the database's for the roll-up."""
        self._ensure_schema()
        clock = now
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            stalled = _mark_stalls(conn, now, stall_after_s)
            _relink_all(conn, now)
        for run in stalled:  # after the commit: only stalls that stick are logged and counted, each once
            _log_stall(run, stall_after_s)
            _count_stall(run)
        if not rollup:
            return [run["run_id"] for run in stalled]
        # The stalls are stored already; a failed rebuild waits for the next sweep.
        with guard("store.rollup"):
            call_rollup.refresh(self.engine, max_periods=call_rollup.SWEEP_MAX_PERIODS, now=clock)
        return [run["run_id"] for run in stalled]


def _lock_runs(conn: sa.Connection, run_ids: set[str]) -> None:
    """Serialise concurrent writers of the same run (PostgreSQL), in a fixed order (no deadlocks), so the
    totals recomputed last see every committed step. SQLite writers are serialised already."""
    if run_ids and is_postgres(conn):
        conn.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(k) FROM "
                "(SELECT DISTINCT hashtextextended(id, 7) AS k FROM unnest(CAST(:ids AS text[])) AS id) s "
                "ORDER BY k"
            ),
            {"ids": pg_ids(sorted(run_ids))},
        )


MAX_AWAITED_PARENTS = 64  # locks per batch for orphans' parents; beyond that, the sweep links them


def _awaited_parents(plan: BatchPlan) -> set[str]:
    """Parents of this batch's steps whose run is still unknown (usually none: our spans carry it)."""
    parents = {row["parent_span_id"] for row in plan.steps if row["run_id"] is None}
    parents.discard(None)
    return set(sorted(parents)[:MAX_AWAITED_PARENTS])


def _upsert_plan(conn: sa.Connection, plan: BatchPlan) -> None:
    key = ["run_id"]
    upsert(conn, M.runs, dedupe(plan.runs, key), key, RUN_SPAN_MERGES)
    upsert(conn, M.runs, _merge_markers(plan.markers), key, MARKER_MERGES)
    upsert(conn, M.runs, dedupe(plan.placeholders, key), key)
    upsert(conn, M.steps, dedupe(plan.steps, ["span_id"]), ["span_id"], STEP_MERGES, mostly_new=True)
    upsert(
        conn,
        M.failures,
        dedupe(plan.failures, ["failure_id"]),
        ["failure_id"],
        FAILURE_MERGES,
        mostly_new=True,
    )


def _merge_markers(markers: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per run: the latest heartbeat, gaps filled from the others."""
    latest: dict[object, dict[str, object]] = {}
    for row in sorted(markers, key=lambda r: str(r["last_heartbeat_at"] or "")):
        previous = latest.get(row["run_id"])
        latest[row["run_id"]] = row if previous is None else _fill(row, previous)
    return [latest[k] for k in sorted(latest, key=str)]


def _fill(row: dict[str, object], older: dict[str, object]) -> dict[str, object]:
    return {k: (v if v is not None else older.get(k)) for k, v in row.items()}


def _mark_stalls(conn: sa.Connection, now: datetime, stall_after_s: float) -> list[dict[str, Any]]:
    """The runs this call marked stalled (locked first on PostgreSQL, so two sweeps never both do)."""
    r = M.runs.c
    cutoff = now - timedelta(seconds=stall_after_s)
    seen = sa.func.coalesce(r.last_heartbeat_at, r.started_at, r.updated_at)
    columns = (r.run_id, r.trace_id, r.name, r.project, r.stage, r.agent_role, r.agent_name, r.user_id)
    query = sa.select(*columns).where(r.status == M.RUN_STATUS_RUNNING, seen < cutoff)
    stale = [
        dict(row) for row in conn.execute(query.with_for_update() if is_postgres(conn) else query).mappings()
    ]
    if not stale:
        return []
    ids = [row["run_id"] for row in stale]
    message = f"no heartbeat for more than {stall_after_s:g} s"
    conn.execute(
        M.runs.update()
        .where(r.run_id.in_(ids), r.status == M.RUN_STATUS_RUNNING)
        .values(status=M.RUN_STATUS_STALLED, error_category="stalled", error_message=message, updated_at=now)
    )
    upsert(conn, M.failures, [stall_failure_row(row, stall_after_s, now) for row in stale], ["failure_id"])
    return stale


# Run columns -> the attributes a log record's attribution is read from (otel_agent.logs.stamp).
_STALL_LOG_ATTRIBUTES = {
    "project": A.PROJECT, "stage": A.STAGE, "agent_role": A.AGENT_ROLE, "agent_name": A.GEN_AI_AGENT_NAME,
    "run_id": A.RUN_ID,
}  # fmt: skip


def _count_stall(run: dict[str, Any]) -> None:
    """otel_agent.runs.stalled: the run's own process is usually gone, so the sweeping process counts it."""
    with guard("store.stall_metric"):
        record_stalled({name: run[column] for column, name in _STALL_LOG_ATTRIBUTES.items()})


def _log_stall(run: dict[str, Any], stall_after_s: float) -> None:
    """One otel_agent.run.stalled log event, with the run's trace and span ids and attribution."""
    with guard("store.stall_log"):
        run_context = SpanContext(
            int(run["trace_id"], 16), int(run["run_id"], 16), is_remote=True, trace_flags=TraceFlags(1)
        )
        attributes = {name: run[column] for column, name in _STALL_LOG_ATTRIBUTES.items()}
        fields = {A.RUN_STATUS: M.RUN_STATUS_STALLED, A.ERROR_CATEGORY: "stalled"}
        message = (
            f"run stalled: {run['name'] or run['run_id']}: no sign of life for more than {stall_after_s:g} s"
        )
        log_run_event("otel_agent.run.stalled", logging.ERROR, message, run_context, attributes, fields)


def _relink_all(conn: sa.Connection, now: datetime) -> None:
    """Orphans whose parent is now known (written by another process meanwhile): link them."""
    frontier = links.orphan_parents(conn, now)
    known = set(links.lookup_runs(conn, frontier))
    touched = links.relink(conn, known, set())
    _lock_runs(conn, touched)
    totals.recompute_totals(conn, touched)
    totals.resolve_failures(conn, touched)
