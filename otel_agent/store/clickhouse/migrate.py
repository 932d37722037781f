"""Apply the ClickHouse store's migrations (schema.py) that a database has not applied yet."""

from __future__ import annotations

from otel_agent.store.clickhouse.client import Client
from otel_agent.store.clickhouse.schema import (
    MIGRATIONS,
    VERSION_TABLE,
    distributed_ddl,
    render,
    version_table,
)


def applied_versions(client: Client) -> set[int]:
    exists = client.rows(f"EXISTS TABLE {VERSION_TABLE}")
    if not exists or not list(exists[0].values())[0]:
        return set()
    return {int(row["version"]) for row in client.rows(f"SELECT version FROM {VERSION_TABLE}")}


def head_version() -> int:
    return max(m.version for m in MIGRATIONS)


def is_current(client: Client) -> bool:
    return head_version() in applied_versions(client)


def upgrade(client: Client, cluster: str | None = None) -> list[int]:
    """Apply what is missing, in order; returns the versions applied now. Each statement is idempotent,
    so two processes upgrading at once, or one that stopped half way, end in the same schema."""
    client.command(version_table(cluster))
    done = applied_versions(client)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            client.command(render(statement, cluster))
        if cluster is not None:
            for statement in distributed_ddl(cluster, migration.tables):
                client.command(statement)
        client.insert(VERSION_TABLE, ("version", "description"),
                      [{"version": migration.version, "description": migration.description}])  # fmt: skip
        applied.append(migration.version)
    return applied
