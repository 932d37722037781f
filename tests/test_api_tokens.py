"""API tokens: stored hashed, bound to a workspace and role, minted and revoked from the CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from otel_agent.api.auth import Principal, Role, digests_match, parse_role
from otel_agent.api.tables import api_tokens
from otel_agent.api.tokens import TokenStore
from tests.api_fixtures import migrated_engine
from tests.services import free_port, wait_for_port


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(migrated_engine(f"sqlite:///{tmp_path}/t.db"))


def test_only_the_digest_is_stored(store: TokenStore) -> None:
    token, info = store.create("acme", Role.OPERATOR, "ci")
    with store._engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).one()
    assert token.startswith("oat_") and len(token) > 40
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored._asdict())
    assert store.verify(token) == Principal(info.id, "ci", "acme", Role.OPERATOR)


def test_unknown_revoked_and_near_miss_tokens_are_refused(store: TokenStore) -> None:
    token, info = store.create("acme", Role.ADMIN)
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.verify("") is None and store.verify("\ud800") is None
    assert store.revoke(info.id) and not store.revoke(info.id)
    assert store.verify(token) is None


def test_roles_are_ordered() -> None:
    viewer, admin = (Principal(1, "", "w", r) for r in (Role.VIEWER, Role.ADMIN))
    assert admin.allows(Role.OPERATOR) and admin.allows(Role.VIEWER)
    assert viewer.allows(Role.VIEWER) and not viewer.allows(Role.OPERATOR)
    assert parse_role(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="viewer, operator, admin"):
        parse_role("root")
    assert digests_match("ab" * 32, "ab" * 32) and not digests_match("ab" * 32, "ac" * 32)


def test_bad_workspace_is_refused(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="workspace"):
        store.create("  ", Role.VIEWER)


def _cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {"OTEL_AGENT_DATABASE_URL": db, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "otel_agent.api.cli", "api", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_cli_creates_prints_once_lists_and_revokes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    created = _cli("token", "create", "--workspace", "acme", "--role", "viewer", "--name", "grafana", db=db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert TokenStore(migrated_engine(db)).verify(token) is not None
    listed = _cli("token", "list", "--json", db=db)
    assert '"workspace": "acme"' in listed.stdout and token not in listed.stdout
    assert _cli("token", "revoke", "1", db=db).returncode == 0
    assert TokenStore(migrated_engine(db)).verify(token) is None
    assert _cli("token", "revoke", "1", db=db).returncode == 1


def test_cli_refuses_an_unknown_role(tmp_path: Path) -> None:
    bad = _cli("token", "create", "--workspace", "acme", "--role", "root", db=f"sqlite:///{tmp_path}/x.db")
    assert bad.returncode == 2 and "viewer, operator, admin" in bad.stderr


def test_otel_agent_api_serves_with_a_cli_made_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/serve.db"
    token = _cli("token", "create", "--workspace", "acme", "--role", "viewer", db=db).stdout.strip()
    port = free_port()
    env = {"OTEL_AGENT_DATABASE_URL": db, "OTEL_AGENT_GRAFANA_URL": "http://g:3000", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "otel_agent.cli", "api", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_port(port, timeout_s=30), "otel-agent api did not listen"
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/api/v1/runs").status_code == 401
        ok = httpx.get(f"{base}/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == {"items": [], "next_cursor": None}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_migration_matches_the_table_definitions(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from otel_agent.api.tables import metadata

    engine = migrated_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in diff if "otel_api_tokens" in str(d) or "otel_audit_events" in str(d)]
    assert ours == []  # (the store checks its own tables)
