from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.services import missing, postgres_server, temporary_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One real PostgreSQL server for the whole test session."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new empty database on the session's server, dropped afterwards."""
    with temporary_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def chdb_directory(tmp_path_factory: pytest.TempPathFactory) -> str:
    """chDB's one directory for this test process (each test gets its own database in it)."""
    try:
        import chdb  # noqa: F401
    except ImportError:
        missing("chdb not installed: make venv-clickhouse (.ci/run does)")
    return str(tmp_path_factory.mktemp("chdb"))


@pytest.fixture
def fresh_chdb_url(chdb_directory: str) -> str:
    """A new empty ClickHouse database, embedded through chDB."""
    return f"chdb://{chdb_directory}?database=t_{uuid.uuid4().hex[:12]}"
