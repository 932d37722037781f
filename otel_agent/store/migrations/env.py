"""Alembic environment for otel-agent's store; run through otel_agent.store.migrate, not the alembic CLI.

The caller hands over an open connection in ``config.attributes["connection"]`` (so a lock taken
around the upgrade covers it). Batch mode lets later revisions ALTER tables on SQLite.
"""

from __future__ import annotations

from alembic import context

from otel_agent.store.migrate import VERSION_TABLE
from otel_agent.store.models import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
