"""The web UI served by ``otel-agent api`` at ``/``: health, runs, a run's waterfall, failures, cost,
triggers and the audit trail, server-rendered (Jinja2) over the API's own routes and queries.

Everything it needs ships in the package (templates/, static/): no CDN, it works offline. Log in with an
API token; the session cookie, the workspace and the role are the token's (otel_agent.api.ui.session).
docs/ui.md describes it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from otel_agent.api.ui import routes
from otel_agent.api.ui.formatting import FILTERS
from otel_agent.api.ui.session import COOKIE, Forbidden, LoginRequired, Sessions

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the UI's pages, static files and session handling to the API app (after app.state is set)."""
    environment = Environment(
        loader=PackageLoader("otel_agent.api.ui", "templates"), autoescape=select_autoescape(default=True)
    )
    environment.filters.update(FILTERS)
    app.state.ui_templates = Jinja2Templates(env=environment)
    app.state.ui_sessions = Sessions(app.state.tokens, app.state.config.ui_secret)
    app.include_router(routes.router)
    app.mount("/static", StaticFiles(packages=[("otel_agent.api.ui", "static")]), name="ui_static")
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(Forbidden, _forbidden)


async def _to_login(request: Request, exc: Exception) -> Response:
    if request.url.path.endswith("/live"):  # a poll, not a page: say so without a redirect
        return Response("log in again", status_code=401)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = request.url_for("ui_login").include_query_params(next=here)
    return RedirectResponse(str(target), status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, Forbidden) else "forbidden"
    session = request.app.state.ui_sessions.read(request.cookies.get(COOKIE))
    return routes.error_page(request, session, 403, message)
