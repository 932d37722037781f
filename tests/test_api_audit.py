"""audit() for application code: queued, written in the background, never raising, scoped by workspace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry import baggage, context

from otel_agent import attributes as attrs
from otel_agent import audit as audit_module
from otel_agent.audit import AuditWriter, audit, configure_audit, dropped_events, flush_audit, query_events
from otel_agent.store.engine import make_engine
from tests.api_fixtures import database, migrated_engine

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with database(request.param, str(tmp_path), pg) as url:
        engine = migrated_engine(url)
        configure_audit(engine)
        yield engine
        configure_audit(None)
        engine.dispose()


def test_audit_is_written_and_queryable(engine: sa.Engine) -> None:
    assert audit("user:42", "document.delete", "doc:9", workspace="acme", details={"why": "gdpr"})
    assert audit("user:43", "document.create", "doc:10", workspace="globex")
    assert flush_audit(10)
    with engine.connect() as conn:
        acme = query_events(conn, "acme")
        deletes = query_events(conn, "acme", action="document.delete", actor="user:42")
        none = query_events(conn, "acme", actor="user:43")
    assert [(e.actor, e.action, e.target, e.source) for e in acme] == [
        ("user:42", "document.delete", "doc:9", "app")
    ]
    assert deletes[0].details == {"why": "gdpr"} and none == []


def test_workspace_comes_from_baggage(engine: sa.Engine) -> None:
    token = context.attach(baggage.set_baggage(attrs.WORKSPACE, "from-baggage"))
    try:
        audit("job:nightly", "report.send")
    finally:
        context.detach(token)
    audit("job:nightly", "report.send")  # no baggage: the default workspace
    assert flush_audit(10)
    with engine.connect() as conn:
        assert len(query_events(conn, "from-baggage")) == 1
        assert len(query_events(conn, audit_module.DEFAULT_WORKSPACE)) == 1


def test_odd_values_are_stored_not_lost(engine: sa.Engine) -> None:
    odd = {"when": datetime(2026, 1, 1, tzinfo=timezone.utc), "nul": "a\x00b", "obj": object}
    assert audit("user\x00:1", "x" * 500, "t", workspace="acme", details=odd)
    assert flush_audit(10)
    with engine.connect() as conn:
        (event,) = query_events(conn, "acme")
    assert event.actor == "user:1" and len(event.action) == 100
    assert event.details["when"].startswith("2026-01-01") and event.details["nul"] == "ab"


def test_never_raises_when_the_database_is_gone(tmp_path: Path) -> None:
    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    writer = configure_audit(broken)
    try:
        assert audit("user:1", "x", workspace="acme")  # queued; the write fails in the background
        assert flush_audit(30)
        assert writer is not None and writer.failed == 1 and dropped_events() == 1
    finally:
        configure_audit(None)


def test_full_queue_drops_and_counts(engine: sa.Engine) -> None:
    writer = AuditWriter(engine, max_queue=1, start=False)  # nothing drains the queue yet
    assert writer.submit(audit_module.AuditEvent("a", "b", workspace="q"))
    assert writer.submit(audit_module.AuditEvent("a", "c", workspace="q")) is False
    assert writer.dropped == 1
    writer.start()
    assert writer.flush(10)
    with engine.connect() as conn:
        assert [e.action for e in query_events(conn, "q")] == ["b"]


def test_audit_rejects_nothing_it_cannot_handle() -> None:
    configure_audit(None)
    # No engine could be built from this URL: audit() still returns instead of raising.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTEL_AGENT_DATABASE_URL", "nosuchdialect://x")
        assert audit("user:1", "x") is False
