from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import postgres_server, temporary_database


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
