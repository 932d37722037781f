"""`otel-agent api`: serve the operator API, and manage its tokens.

    otel-agent api [--host H] [--port P] [--database-url URL]
    otel-agent api token create --workspace W --role viewer|operator|admin [--name N]
    otel-agent api token list [--workspace W] [--json]
    otel-agent api token revoke ID

`token create` prints the token on stdout, once; only its SHA-256 digest is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_agent.api.auth import parse_role
from otel_agent.api.tokens import TokenInfo, TokenStore
from otel_agent.settings import Settings
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import is_current, upgrade


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `api` on the main CLI's subparsers; the handler is stored as `func`."""
    settings = Settings.from_env()
    parser = subparsers.add_parser("api", help="serve the operator HTTP API; manage its tokens")
    parser.add_argument("--host", default=settings.api_host, help="default: OTEL_AGENT_API_HOST or 127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=settings.api_port, help="default: OTEL_AGENT_API_PORT or 8321"
    )
    parser.add_argument(
        "--database-url", default=None, help="default: OTEL_AGENT_DATABASE_URL or a SQLite file"
    )
    parser.set_defaults(func=serve)
    token = parser.add_subparsers(dest="api_command").add_parser("token", help="create, list, revoke tokens")
    actions = token.add_subparsers(dest="token_action", required=True)
    create = actions.add_parser("create", help="mint a token and print it once")
    create.add_argument("--workspace", required=True)
    create.add_argument("--role", required=True, type=_role, help="viewer, operator or admin")
    create.add_argument("--name", default="", help="a label, e.g. who or what uses it")
    create.set_defaults(func=create_token)
    listing = actions.add_parser("list", help="tokens (never their secrets)")
    listing.add_argument("--workspace")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_tokens)
    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=revoke_token)
    return parser


def _role(value: str) -> Any:
    try:
        return parse_role(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store(args: argparse.Namespace) -> TokenStore:
    engine = make_engine(getattr(args, "database_url", None))
    if not is_current(engine):
        upgrade(engine)
    return TokenStore(engine)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from otel_agent.api.app import create_app
    from otel_agent.api.config import ApiConfig

    url = args.database_url
    writer = make_engine(url)
    if not is_current(writer):
        upgrade(writer)
    writer.dispose()
    # Reads dominate; on SQLite a reader must not take the write lock at BEGIN.
    app = create_app(make_engine(url, for_writing=False), ApiConfig.from_settings(Settings.from_env()))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def create_token(args: argparse.Namespace) -> int:
    try:
        token, info = _store(args).create(args.workspace, args.role, args.name)
    except ValueError as exc:
        print(f"otel-agent api token create: {exc}", file=sys.stderr)
        return 2
    print(
        f"created token {info.id} for workspace {info.workspace!r}, role {info.role.value}; "
        "it is shown only now:",
        file=sys.stderr,
    )
    print(token)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    tokens = _store(args).list(args.workspace)
    if args.json:
        print(json.dumps([_as_dict(t) for t in tokens], indent=2))
        return 0
    print(f"{'ID':>4}  {'WORKSPACE':<20} {'ROLE':<9} {'STATE':<8} NAME")
    for t in tokens:
        state = "revoked" if t.revoked_at else "live"
        print(f"{t.id:>4}  {t.workspace:<20} {t.role.value:<9} {state:<8} {t.name}")
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    if _store(args).revoke(args.id):
        print(f"revoked token {args.id}")
        return 0
    print(f"otel-agent api token revoke: no live token with id {args.id}", file=sys.stderr)
    return 1


def _as_dict(info: TokenInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "name": info.name,
        "workspace": info.workspace,
        "role": info.role.value,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run `otel-agent api ...` on its own (python -m otel_agent.api.cli ...)."""
    parser = argparse.ArgumentParser(prog="otel-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
