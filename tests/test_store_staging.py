"""PostgreSQL staging tables (batches merged through COPY): they survive a rolled-back transaction and
stay small however many batches pass through them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from otel_agent.store import make_engine, upgrade
from otel_agent.store import models as M
from otel_agent.store.upsert import STAGING_TRUNCATE_EVERY, upsert

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(fresh_postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _runs(first: int, count: int = 10) -> list[dict[str, object]]:
    return [
        {"run_id": f"{i:016x}", "trace_id": f"{i:032x}", "root_run_id": f"{i:016x}", "status": "running",
         "updated_at": NOW}
        for i in range(first, first + count)
    ]  # fmt: skip


def _stored(conn: sa.Connection) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(M.runs)) or 0)


def test_a_rolled_back_first_use_leaves_the_connection_usable(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with conn.begin() as txn:
            upsert(conn, M.runs, _runs(1), ["run_id"])  # creates the staging table, then ...
            txn.rollback()  # ... its creation is undone
        with conn.begin():
            upsert(conn, M.runs, _runs(1), ["run_id"])
        assert _stored(conn) == 10


def test_staging_is_emptied_between_batches_and_truncated_now_and_then(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for batch in range(STAGING_TRUNCATE_EVERY + 3):
            with conn.begin():
                upsert(conn, M.runs, _runs(batch * 10), ["run_id"])
                staged = conn.exec_driver_sql("SELECT count(*) FROM otel_stage_otel_runs").scalar()
                assert staged == 10  # this batch only: earlier ones were emptied out
        assert _stored(conn) == (STAGING_TRUNCATE_EVERY + 3) * 10
        pages = conn.exec_driver_sql("SELECT pg_relation_size('otel_stage_otel_runs') / 8192").scalar()
        assert pages is not None and pages <= 3  # dead rows did not pile up (64 batches of them: ~17 pages)
