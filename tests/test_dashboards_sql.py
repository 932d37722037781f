"""Every SQL query of the dashboards runs on a real PostgreSQL, on the store's own tables (created by its
migrations), as the read-only role that Grafana uses; that role cannot write."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa

from tests.services import REPO_ROOT, missing
from tests.stack_support import dashboard_sql, grafana_macros

pytestmark = pytest.mark.postgres

READER_SQL = REPO_ROOT / "deploy" / "postgres" / "init" / "grafana-reader.psql"
READER = "grafana_reader"


def psql() -> str:
    found = shutil.which("psql")
    if not found:
        missing("psql not found; apt-get install postgresql-client")
    assert found
    return found


@pytest.fixture
def reader_url(fresh_postgres_url: str) -> str:
    """A migrated database plus the read-only role, created by the same script the compose file runs."""
    migrate = pytest.importorskip("otel_agent.store.migrate", reason="the store's migrations have not landed")
    engine_module = pytest.importorskip("otel_agent.store.engine")
    owner = engine_module.make_engine(fresh_postgres_url)
    try:
        migrate.upgrade(owner)
        with owner.connect() as conn:
            # Roles are cluster-wide; each test database gets a fresh one.
            conn.execute(sa.text(f'DROP OWNED BY "{READER}"') if _role_exists(conn) else sa.text("SELECT 1"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{READER}"'))
            conn.commit()
    finally:
        owner.dispose()
    url = sa.make_url(fresh_postgres_url)
    subprocess.run(
        [psql(), "-v", "ON_ERROR_STOP=1", "-h", str(url.host), "-p", str(url.port), "-U", "postgres",
         "-d", str(url.database), "-v", f"reader={READER}", "-v", "password=reader-secret",
         "-v", "owner=postgres", "-f", str(READER_SQL)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return url.set(username=READER).render_as_string(hide_password=False)


def _role_exists(conn: sa.Connection) -> bool:
    return bool(conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": READER}).scalar())


def test_every_dashboard_query_runs_as_the_read_only_role(reader_url: str) -> None:
    queries = dashboard_sql()
    assert len(queries) >= 6
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as conn:
            for name, query in queries:
                try:
                    conn.execute(sa.text(grafana_macros(query).replace(":", r"\:"))).fetchall()
                except sa.exc.DBAPIError as exc:
                    pytest.fail(f"{name}: {exc.orig}")
                conn.rollback()
    finally:
        engine.dispose()


def test_the_read_only_role_cannot_write(reader_url: str) -> None:
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only|permission denied"):
            conn.execute(sa.text("DELETE FROM otel_runs"))
    finally:
        engine.dispose()


def test_a_query_on_a_missing_column_fails(reader_url: str) -> None:
    """The check can fail: a column the store does not have is an error."""
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("SELECT no_such_column FROM otel_runs"))
    finally:
        engine.dispose()
