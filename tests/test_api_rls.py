"""Row-level security, the API's second wall (PostgreSQL): a transaction bound to a workspace sees only
that workspace's rows even when a query forgets its workspace filter, on the read, report and purge paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from otel_agent.api.workspace_db import for_workspace
from otel_agent.store import queries
from otel_agent.store.models import failures, runs, steps
from otel_agent.store.report import usage_report
from tests.api_fixtures import Stack, stack
from tests.services import temporary_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Stack]:
    with temporary_database(postgres_url, prefix="rls_") as url, stack(url) as live:
        yield live


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def test_a_query_without_a_workspace_filter_sees_one_workspace(pg: Stack) -> None:
    acme, globex = for_workspace(pg.engine, "acme"), for_workspace(pg.engine, "globex")
    nobody = for_workspace(pg.engine, "initech")
    assert [count(pg.engine, t) for t in (runs, steps, failures)] == [14, 4, 4]  # the owner: everything
    assert [count(acme, t) for t in (runs, steps, failures)] == [12, 4, 3]
    assert [count(globex, t) for t in (runs, steps, failures)] == [2, 0, 1]
    assert [count(nobody, t) for t in (runs, steps, failures)] == [0, 0, 0]
    with globex.connect() as conn:  # what it cannot see, it cannot change either
        changed = conn.execute(runs.update().values(status="cancelled")).rowcount
        conn.commit()
    assert changed == 2 and count(pg.engine, runs) == 14
    with pg.engine.connect() as conn:  # the pool's connections come back as the owner
        assert conn.execute(sa.text("SELECT current_user = session_user")).scalar()


def test_the_store_report_over_every_workspace_reports_one_when_bound(pg: Stack) -> None:
    """usage_report has no workspace filter when RunFilter names none (the CLI's cross-workspace report)."""
    with for_workspace(pg.engine, "globex").connect() as conn:
        groups = usage_report(conn, queries.RunFilter(), by="user")
    assert [(g["group"], g["runs"]) for g in groups] == [("u1", 2)]
    with pg.client("globex") as client:
        api = client.get("/api/v1/report", params={"by": "user"}).json()["groups"]
    assert [(g["group"], g["runs"]) for g in api] == [("u1", 2)]


def test_the_stores_cross_workspace_purge_deletes_one_workspace_when_bound(pg: Stack) -> None:
    """queries.purge (behind `otel-agent purge`) spans every workspace: bound to globex, it cannot."""
    with for_workspace(pg.engine, "globex").connect() as conn:
        deleted = queries.purge(conn, user_id="u1")
        conn.commit()
    assert deleted["runs"] == 2
    assert count(pg.engine, runs) == 12  # acme's u1 runs are still there
    with pg.client("acme", "admin") as admin:
        done = admin.post("/api/v1/purge", json={"user_id": "u1"}).json()
    assert done["runs"] == 11 and count(pg.engine, runs) == 1
