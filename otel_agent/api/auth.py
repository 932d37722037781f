"""API tokens and roles: how a bearer token becomes a principal bound to one workspace.

A token is shown once, at creation; only its SHA-256 digest is stored. A random 256-bit secret needs no
salt or slow hash: nobody can brute-force the pre-image, so one fast digest lookup per request is safe.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

TOKEN_PREFIX = "oat_"  # recognisable in logs and secret scanners
MAX_WORKSPACE_LENGTH = 200


class Role(str, Enum):
    """What a token may do; each role includes the ones before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a verified token: its workspace scopes every query."""

    token_id: int
    name: str
    workspace: str
    role: Role

    def allows(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"token:{self.token_id}:{self.name}" if self.name else f"token:{self.token_id}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def digests_match(stored: str, presented: str) -> bool:
    """Constant-time comparison, so response timing says nothing about how close a guess was."""
    return hmac.compare_digest(stored.encode("ascii"), presented.encode("ascii"))


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; expected one of: {names}") from None


def check_workspace(value: str) -> str:
    workspace = value.strip()
    if not workspace or len(workspace) > MAX_WORKSPACE_LENGTH:
        raise ValueError(f"workspace must be 1 to {MAX_WORKSPACE_LENGTH} characters, got {value!r}")
    return workspace
