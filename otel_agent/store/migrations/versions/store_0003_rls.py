"""PostgreSQL row-level security by workspace: the API's second wall

Revision ID: store_0003_rls
Revises: store_0002
Create Date: 2026-12-02 12:10:00

The API runs each transaction as the role ``otel_agent_api`` with ``otel_agent.workspace`` set to its
token's workspace (otel_agent/api/workspace_db.py); the policies below then show that role only that
workspace's runs, their steps and failures, and that workspace's roll-up rows, whatever a query's WHERE
clause says. Writers (the SQL exporter, the sink, migrations) connect as the tables' owner, which row-level
security does not apply to (it is enabled, not forced). SQLite has no such thing: nothing to do there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "store_0003_rls"
down_revision: str | Sequence[str] | None = "store_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "otel_agent_api"
POLICY = "otel_agent_workspace"
# A run with no workspace belongs to "default" (otel_agent/api/scope.py).
_IN_WORKSPACE = "coalesce(workspace, 'default') = current_setting('otel_agent.workspace', true)"
_OF_VISIBLE_RUN = "run_id IN (SELECT run_id FROM otel_runs)"  # otel_runs' own policy applies inside
POLICIES = {
    "otel_runs": _IN_WORKSPACE,
    "otel_steps": _OF_VISIBLE_RUN,
    "otel_failures": _OF_VISIBLE_RUN,
    "otel_call_rollup_periods": _IN_WORKSPACE,
    "otel_call_rollups": _IN_WORKSPACE,
}
PLAIN_TABLES = ("otel_api_tokens", "otel_audit_events")  # the API writes them; scoped by its own code


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""DO $$ BEGIN
            CREATE ROLE {ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$"""
    )
    op.execute(f"GRANT {ROLE} TO CURRENT_USER")  # so the API's login may SET ROLE to it
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {ROLE}', current_schema()); END $$")
    tables = ", ".join([*POLICIES, *PLAIN_TABLES])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {ROLE}")
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {ROLE}', "
               "current_schema()); END $$")  # fmt: skip
    for table, condition in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {POLICY} ON {table} TO {ROLE} USING ({condition})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    tables = ", ".join([*POLICIES, *PLAIN_TABLES])
    op.execute(f"REVOKE ALL ON {tables} FROM {ROLE}")  # the role may serve other databases: it stays
