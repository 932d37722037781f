"""Web UI sessions: log in with an API token; a signed cookie then names that token.

The cookie holds the token's id and a random CSRF nonce, signed with OTEL_AGENT_UI_SECRET (or a random
secret per process: a restart then logs everyone out), never the token itself. Every request looks the
token up again, so revoking it ends its sessions at once, and the role and workspace are always the
token's. The cookie is HttpOnly and SameSite=Lax (Secure over https). A form that changes something
carries the nonce in a hidden field and must come from this origin.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from otel_agent.api.auth import Principal, Role
from otel_agent.api.tokens import TokenStore

COOKIE = "otel_agent_session"
MAX_AGE_S = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: the token's principal, and the nonce its forms must echo."""

    principal: Principal
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.principal.allows(Role.OPERATOR)


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""


class Forbidden(Exception):
    """A form without this session's nonce, from another origin, or above the token's role."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Sessions:
    """Issues and reads session cookies."""

    def __init__(self, tokens: TokenStore, secret: str | None) -> None:
        self._tokens = tokens
        self._signer = URLSafeTimedSerializer(secret or secrets.token_urlsafe(32), salt="otel-agent-ui")

    def issue(self, principal: Principal) -> str:
        return self._signer.dumps({"t": principal.token_id, "n": secrets.token_urlsafe(24)})

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data: Any = self._signer.loads(cookie, max_age=MAX_AGE_S)
            token_id, nonce = int(data["t"]), str(data["n"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        principal = self._tokens.principal(token_id)
        return Session(principal, nonce) if principal is not None else None


def set_cookie(response: Any, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_S,
        path=_path(request),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Any, request: Request) -> None:
    response.delete_cookie(COOKIE, path=_path(request), httponly=True, samesite="lax")


def _path(request: Request) -> str:
    return (request.scope.get("root_path") or "") + "/"


def same_origin(request: Request) -> bool:
    """A browser names the page a form was sent from; refuse another site's (no Origin: older client)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host")


def current(request: Request) -> Session:
    found = request.app.state.ui_sessions.read(request.cookies.get(COOKIE))
    if found is None:
        raise LoginRequired()
    # As deps.principal does for a bearer token: deps.engine then binds the page's transactions to this
    # workspace (row-level security on PostgreSQL, workspace_db.py). Routes name the session first.
    request.state.workspace = found.principal.workspace
    return found


def check_action(request: Request, session: Session, csrf: str, needed: Role = Role.OPERATOR) -> None:
    """Let a state-changing form through only from this origin, with this session's nonce and role."""
    if not same_origin(request) or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise Forbidden("this form is out of date or came from another site; reload the page and retry")
    if not session.principal.allows(needed):
        raise Forbidden(
            f"your token's role ({session.principal.role.value}) cannot do this: it needs {needed.value}"
        )


UiSession = Annotated[Session, Depends(current)]
