"""Create, verify, list and revoke API tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from otel_agent.api.auth import Principal, Role, check_workspace, digests_match, hash_token, new_token
from otel_agent.api.tables import api_tokens, as_utc, utcnow


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token without its secret."""

    id: int
    name: str
    workspace: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class TokenStore:
    """API tokens in the ``api_tokens`` table."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create(self, workspace: str, role: Role, name: str = "") -> tuple[str, TokenInfo]:
        """Mint a token; the clear text is returned here and never again."""
        token = new_token()
        info = TokenInfo(0, name.strip()[:200], check_workspace(workspace), role, utcnow(), None)
        row = {
            "name": info.name,
            "workspace": info.workspace,
            "role": role.value,
            "token_hash": hash_token(token),
            "created_at": info.created_at,
        }
        with self._engine.begin() as conn:
            token_id = conn.execute(sa.insert(api_tokens).values(row).returning(api_tokens.c.id)).scalar_one()
        return token, dataclasses.replace(info, id=token_id)

    def verify(self, token: str) -> Principal | None:
        """The principal behind a live token, or None for an unknown or revoked one."""
        digest = hash_token(token)
        query = sa.select(api_tokens).where(
            api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not digests_match(row.token_hash, digest):
            return None
        return Principal(row.id, row.name, row.workspace, Role(row.role))

    def principal(self, token_id: int) -> Principal | None:
        """The principal of a live token found by id (a web UI session names its token by id)."""
        query = sa.select(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Principal(row.id, row.name, row.workspace, Role(row.role))

    def list(self, workspace: str | None = None) -> list[TokenInfo]:
        query = sa.select(api_tokens).order_by(api_tokens.c.id)
        if workspace is not None:
            query = query.where(api_tokens.c.workspace == workspace)
        with self._engine.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def revoke(self, token_id: int) -> bool:
        """Revoke a token at once; False if there was no live token with that id."""
        update = (
            sa.update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        with self._engine.begin() as conn:
            return conn.execute(update).rowcount == 1


def _info(row: sa.Row) -> TokenInfo:
    created = as_utc(row.created_at)
    assert created is not None
    return TokenInfo(row.id, row.name, row.workspace, Role(row.role), created, as_utc(row.revoked_at))
