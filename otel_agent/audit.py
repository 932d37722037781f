"""The audit trail: who did what to what, and who or what triggered each workflow.

For application code::

    from otel_agent.audit import audit
    audit("user:42", "document.delete", "doc:981", workspace="acme", details={"reason": "gdpr"})

``audit()`` never raises and never blocks: it puts the event on a bounded queue that a daemon thread
writes to the ``audit_events`` table of ``OTEL_AGENT_DATABASE_URL`` (or the engine given to
``configure_audit``). When the queue is full the event is dropped and counted (``dropped_events()``).
The workspace defaults to the ``otel_agent.workspace`` baggage entry of the current context.

Triggers need no extra writes: every run row already carries its trigger type and id (from the
``otel_agent.trigger.*`` attributes), so ``last_triggers`` and ``list_triggers`` query the runs table.
"""

from __future__ import annotations

import atexit
import json
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from opentelemetry import baggage

from otel_agent import attributes as attrs
from otel_agent.api.scope import DEFAULT_WORKSPACE, run_in
from otel_agent.api.tables import audit_events, utcnow
from otel_agent.guard import record_failure
from otel_agent.store.models import runs

_QUEUE_SIZE = 10_000
_BATCH = 500


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit record; ``source`` is "app" for application code and "api" for the operator API."""

    actor: str
    action: str
    target: str = ""
    workspace: str = DEFAULT_WORKSPACE
    outcome: str = "success"
    details: Mapping[str, Any] | None = None
    source: str = "app"
    at: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "workspace": _text(self.workspace, 200),
            "actor": _text(self.actor, 200),
            "action": _text(self.action, 100),
            "target": _text(self.target, 500),
            "outcome": _text(self.outcome, 20),
            "source": _text(self.source, 20),
            "details": _json_safe(self.details),
        }


def _text(value: str, limit: int) -> str:
    return value.replace("\x00", "")[:limit]


def _json_safe(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # An odd value (a datetime, a model object) becomes its str(), rather than failing the whole batch;
    # NUL characters go too, since PostgreSQL's JSONB refuses them.
    if not details:
        return None
    return _without_nul(json.loads(json.dumps(dict(details), default=str)))


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def record_events(conn: sa.Connection, events: list[AuditEvent]) -> None:
    """Insert audit events inside the caller's transaction (the API audits in the same one it changes)."""
    if events:
        conn.execute(sa.insert(audit_events), [event.row() for event in events])


class AuditWriter:
    """Writes queued audit events on a daemon thread, in batches; never blocks the caller."""

    def __init__(self, engine: sa.Engine, max_queue: int = _QUEUE_SIZE, start: bool = True) -> None:
        self._engine = engine
        self._queue: queue.Queue[AuditEvent] = queue.Queue(max_queue)
        self._pending = 0  # queued or being written; guarded by _cond
        self._cond = threading.Condition()
        self.dropped = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="otel-agent-audit", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: AuditEvent) -> bool:
        with self._cond:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self.dropped += 1
                return False
            self._pending += 1
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far is written (or failed); True if it all went in time."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout_s)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._write(batch)
            with self._cond:
                self._pending -= len(batch)
                self._cond.notify_all()

    def _write(self, batch: list[AuditEvent]) -> None:
        try:
            with self._engine.begin() as conn:
                record_events(conn, batch)
        except Exception as exc:  # a database outage must not kill the writer thread
            self.failed += len(batch)
            record_failure("audit.write", exc)  # counted; logged at most once per interval


_writer: AuditWriter | None = None
_writer_lock = threading.Lock()


def configure_audit(engine: sa.Engine | None) -> AuditWriter | None:
    """Send ``audit()`` events to this engine (None: back to OTEL_AGENT_DATABASE_URL on next use)."""
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer.flush()
        _writer = AuditWriter(engine) if engine is not None else None
        return _writer


def _default_writer() -> AuditWriter:
    global _writer
    with _writer_lock:
        if _writer is None:
            from otel_agent.store.engine import make_engine

            _writer = AuditWriter(make_engine())
            atexit.register(_writer.flush, 2.0)
        return _writer


def audit(
    actor: str,
    action: str,
    target: str = "",
    *,
    workspace: str | None = None,
    outcome: str = "success",
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Record that `actor` did `action` to `target`. Never raises; False if the event was dropped."""
    try:
        event = AuditEvent(
            actor=str(actor),
            action=str(action),
            target=str(target),
            workspace=workspace or _baggage_workspace(),
            outcome=str(outcome),
            details=details,
        )
        return _default_writer().submit(event)
    except Exception as exc:  # never into the application
        record_failure("audit", exc)
        return False


def flush_audit(timeout_s: float = 5.0) -> bool:
    """Block until queued audit events are written (tests, shutdown)."""
    return _writer.flush(timeout_s) if _writer is not None else True


def dropped_events() -> int:
    """Audit events lost so far: queue full or database write failed."""
    return (_writer.dropped + _writer.failed) if _writer is not None else 0


def _baggage_workspace() -> str:
    value = baggage.get_baggage(attrs.WORKSPACE)
    return str(value) if value else DEFAULT_WORKSPACE


def query_events(
    conn: sa.Connection,
    workspace: str,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[sa.Row]:
    """Audit events of one workspace, newest first; `before` = (at, id) of the last row already seen."""
    t = audit_events
    query = sa.select(t).where(t.c.workspace == workspace)
    for column, value in ((t.c.actor, actor), (t.c.action, action), (t.c.target, target)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(t.c.at >= since)
    if until is not None:
        query = query.where(t.c.at < until)
    if before is not None:
        query = query.where(
            sa.tuple_(t.c.at, t.c.id) < sa.tuple_(sa.literal(before[0]), sa.literal(before[1]))
        )
    return list(conn.execute(query.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)))


def workflow_key() -> sa.ColumnElement[str]:
    """What names a workflow: its gen_ai.workflow.name, else the agent's name, else the run's name."""
    return sa.func.coalesce(runs.c.workflow_name, runs.c.agent_name, runs.c.name)


def _trigger_columns() -> tuple[sa.ColumnElement, ...]:
    return (
        workflow_key().label("workflow"),
        runs.c.trigger_type,
        runs.c.trigger_id,
        runs.c.run_id,
        runs.c.status,
        runs.c.started_at,
        runs.c.user_id,
    )


def list_triggers(
    conn: sa.Connection,
    workspace: str,
    *,
    workflow: str | None = None,
    trigger_type: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[sa.Row]:
    """Who or what started each top-level run of a workspace, newest first (from the runs' attributes)."""
    query = sa.select(*_trigger_columns()).where(
        run_in(workspace), runs.c.parent_run_id.is_(None), runs.c.started_at.is_not(None)
    )
    if workflow is not None:
        query = query.where(workflow_key() == workflow)
    if trigger_type is not None:
        query = query.where(runs.c.trigger_type == trigger_type)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    return list(conn.execute(query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)))


def last_triggers(conn: sa.Connection, workspace: str, limit: int = 100) -> list[sa.Row]:
    """The latest top-level run of each workflow in a workspace: what triggered it, and when."""
    ranked = (
        sa.select(
            *_trigger_columns(),
            sa.func.row_number()
            .over(partition_by=workflow_key(), order_by=(runs.c.started_at.desc(), runs.c.run_id.desc()))
            .label("rank"),
        )
        .where(run_in(workspace), runs.c.parent_run_id.is_(None), runs.c.started_at.is_not(None))
        .subquery()
    )
    columns = [c for c in ranked.c if c.name != "rank"]
    query = sa.select(*columns).where(ranked.c.rank == 1).order_by(ranked.c.started_at.desc()).limit(limit)
    return list(conn.execute(query))
