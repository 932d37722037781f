"""The operator API as an ASGI app: ``create_app(engine)`` serves it alone or mounted in another app.

    from otel_agent.api import create_app
    parent.mount("/agent-ops", create_app(engine))

Every route lives under /api/v1 and needs a bearer token; /metrics (Prometheus) needs one too and
reports the token's workspace only. /openapi.json and /docs describe it all. The web UI (otel_agent.api.ui)
serves its pages at / and logs in with the same tokens.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from otel_agent.api.config import ApiConfig
from otel_agent.api.routes import audit, failures, health, metrics, purge, report, runs, tokens, users
from otel_agent.api.schemas import Problem
from otel_agent.api.tokens import TokenStore
from otel_agent.api.ui import install as install_ui
from otel_agent.api.workspace_db import bind_workspaces
from otel_agent.guard import record_failure

API_PREFIX = "/api/v1"
_ERRORS = {
    400: {"model": Problem, "description": "Malformed parameter"},
    401: {"model": Problem, "description": "Missing, unknown or revoked token"},
    403: {"model": Problem, "description": "The token's role does not allow this"},
    503: {"model": Problem, "description": "The database is unreachable"},
}


def create_app(engine: sa.Engine, config: ApiConfig | None = None) -> FastAPI:
    """The API over the store behind `engine` (migrated with `otel-agent db upgrade`)."""
    app = FastAPI(
        title="otel-agent operator API",
        version="1",
        description="Runs, failures, cost, user activity, audit trail and health of AI agent pipelines.",
        responses=_ERRORS,  # type: ignore[arg-type]
    )
    bind_workspaces(engine)
    app.state.engine = engine
    app.state.config = config or ApiConfig()
    app.state.tokens = TokenStore(engine)
    routers = (runs, failures, report, users, health, audit, purge, tokens)
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.add_api_route("/healthz", _alive, methods=["GET"], tags=["health"], summary="Liveness (no token)")
    app.add_exception_handler(sa.exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa.exc.DataError, _unstorable_value)
    install_ui(app)  # the web UI at / (otel_agent/api/ui, docs/ui.md)
    return app


async def _alive() -> dict[str, str]:
    return {"status": "ok"}


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # Safety net: a value that passed validation but that the database cannot take is the caller's 400.
    record_failure("api.unstorable_value", exc)
    return JSONResponse({"detail": "a parameter holds a value the database cannot store"}, 400)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # An outage is the server's problem, but say so plainly instead of a bare 500; counted, and logged
    # at most once a minute however many requests hit it.
    record_failure("api.database", exc)
    return JSONResponse({"detail": "database unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)
