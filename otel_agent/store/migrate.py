"""Apply the Alembic migrations shipped in otel_agent/store/migrations (``otel-agent db upgrade``).

Other parts add tables with their own revision file in migrations/versions whose ``down_revision`` is
the current head (e.g. the operator API's ``api_0001`` on top of ``store_0001``, then ``store_0002``). We
upgrade to "heads".
Concurrent upgraders are serialised: an advisory lock on PostgreSQL, the write lock on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from otel_agent.store.engine import is_postgres

VERSION_TABLE = "otel_agent_alembic_version"
SCRIPT_LOCATION = "otel_agent.store:migrations"
_PG_LOCK_KEY = 0x07E1A6E7  # any constant shared by every otel-agent process


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: sa.Engine) -> tuple[str, ...]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return tuple(context.get_current_heads())


def is_current(engine: sa.Engine) -> bool:
    return set(current_revisions(engine)) == set(head_revisions())


def upgrade(engine: sa.Engine, revision: str = "heads") -> None:
    """Bring the database's schema to ``revision`` (default: the newest)."""
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)
