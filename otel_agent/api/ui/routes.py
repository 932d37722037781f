"""The web UI's pages and forms. Each page gathers its data in otel_agent.api.ui.views and renders one
template; forms that change something go through ``session.check_action`` (origin, CSRF nonce, role)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from otel_agent.api import deps
from otel_agent.api.routes import failures as failure_routes
from otel_agent.api.schemas import ResolveGroup
from otel_agent.api.tables import utcnow
from otel_agent.api.ui import session as sessions
from otel_agent.api.ui import views
from otel_agent.audit import AuditEvent, record_events

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.ui_templates
    return templates.TemplateResponse(request, template, {"now": utcnow(), **context}, status_code=status)


def page(
    request: Request, session: sessions.Session, template: str, build: Callable[[], dict[str, Any]]
) -> Response:
    """Render `template` with what `build` gathers; a bad filter or a missing row is an error page."""
    context: dict[str, Any] = {"session": session, "nav": template.removesuffix(".html")}
    try:
        return render(request, template, {**context, **build()})
    except views.BadInput as exc:
        return error_page(request, session, 400, str(exc))
    except HTTPException as exc:  # raised by the API's route functions: 404 not in workspace, 400 cursor
        return error_page(request, session, exc.status_code, str(exc.detail))


def error_page(request: Request, session: sessions.Session | None, status: int, message: str) -> Response:
    context = {"session": session, "nav": "", "status": status, "message": message}
    return render(request, "error.html", context, status)


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


@router.get("/", name="ui_health")
def health(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    return page(
        request, session, "health.html", lambda: views.health_page(engine, session.principal, utcnow())
    )


@router.get("/runs", name="ui_runs")
def runs(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        filters = views.RunFilters.parse(_query(request))
        cursor = views.text(request.query_params.get("cursor"), "cursor")
        return {
            **views.runs_page(engine, session.principal, filters, cursor, utcnow()),
            "statuses": views.RUN_STATUSES,
            "windows": views.WINDOWS,
        }

    return page(request, session, "runs.html", build)


@router.get("/runs/{run_id}", name="ui_run")
def run(
    run_id: str, request: Request, session: sessions.UiSession, engine: deps.Engine, config: deps.Config
) -> Response:
    def build() -> dict[str, Any]:
        views.text(run_id, "run id")
        return views.run_page(engine, session.principal, config, run_id, utcnow())

    return page(request, session, "run.html", build)


@router.get("/failures", name="ui_failures")
def failures(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        filters = views.FailureFilters.parse(_query(request))
        cursor = views.text(request.query_params.get("cursor"), "cursor")
        return {
            **views.failures_page(engine, session.principal, filters, cursor),
            "states": views.FAILURE_STATES,
        }

    return page(request, session, "failures.html", build)


@router.get("/failures/{failure_id}", name="ui_failure")
def failure(failure_id: str, request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        views.text(failure_id, "failure id")
        return views.failure_page(engine, session.principal, failure_id)

    return page(request, session, "failure.html", build)


@router.get("/cost", name="ui_cost")
def cost(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        by = (
            views.choice(request.query_params.get("by"), views.cost_series.GROUPINGS, "by", "project")
            or "project"
        )
        days = views.choice(
            request.query_params.get("days"), tuple(str(d) for d in views.COST_DAYS), "days", "30"
        )
        context = views.cost_page(engine, session.principal, by, int(days or 30), utcnow())
        return {**context, "groupings": views.cost_series.GROUPINGS, "day_choices": views.COST_DAYS}

    return page(request, session, "cost.html", build)


@router.get("/audit", name="ui_audit")
def audit(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        actor = views.text(request.query_params.get("actor"), "actor")
        action = views.text(request.query_params.get("action"), "action")
        cursor = views.text(request.query_params.get("cursor"), "cursor")
        return views.audit_page(engine, session.principal, actor, action, cursor)

    return page(request, session, "audit.html", build)


@router.get("/triggers", name="ui_triggers")
def triggers(request: Request, session: sessions.UiSession, engine: deps.Engine) -> Response:
    def build() -> dict[str, Any]:
        workflow = views.text(request.query_params.get("workflow"), "workflow")
        trigger_type = views.text(request.query_params.get("trigger_type"), "trigger type")
        latest = request.query_params.get("latest", "1") == "1"
        return views.triggers_page(engine, session.principal, workflow, trigger_type, latest)

    return page(request, session, "triggers.html", build)


@router.get("/live", name="ui_live")
def live(ids: str, session: sessions.UiSession, engine: deps.Engine) -> JSONResponse:
    """Polled by the pages while runs are in flight: each run's status and totals so far."""
    wanted = [i for i in ids.split(",") if i and len(i) <= 32 and "\x00" not in i]
    return JSONResponse(
        views.live_status(engine, session.principal, wanted), headers={"Cache-Control": "no-store"}
    )


@router.post("/failures/{failure_id}/resolve", name="ui_resolve")
def resolve(
    failure_id: str, request: Request, session: sessions.UiSession, engine: deps.Engine, csrf: Csrf
) -> Response:
    sessions.check_action(request, session, csrf)
    try:
        failure_routes.resolve_failure(failure_id[:48], session.principal, engine)
    except HTTPException as exc:
        return error_page(request, session, exc.status_code, str(exc.detail))
    target = request.url_for("ui_failure", failure_id=failure_id)
    return RedirectResponse(f"{target}?resolved=1", status_code=303)


@router.post("/failures/resolve", name="ui_resolve_group")
def resolve_group(
    request: Request,
    session: sessions.UiSession,
    engine: deps.Engine,
    csrf: Csrf,
    error_category: Annotated[str, Form()],
    error_type: Annotated[str | None, Form()] = None,
    message: Annotated[str | None, Form()] = None,
) -> Response:
    sessions.check_action(request, session, csrf)
    try:
        body = ResolveGroup(error_category=error_category, error_type=error_type, message=message)
    except ValidationError as exc:
        return error_page(request, session, 400, f"not a failure group: {exc.error_count()} invalid field(s)")
    resolved = failure_routes.resolve_group(body, session.principal, engine).resolved
    return RedirectResponse(
        f"{request.url_for('ui_failures')}?{urlencode({'resolved': resolved})}", status_code=303
    )


@router.get("/login", name="ui_login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", {"next": _local(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    engine: deps.Engine,
    token: Annotated[str, Form(max_length=500)],
    next: Annotated[str, Form()] = "",
) -> Response:
    if not sessions.same_origin(request):
        return render(request, "login.html", {"next": "", "error": "this form came from another site"}, 403)
    principal = request.app.state.tokens.verify(token.strip())
    if principal is None:
        return render(request, "login.html", {"next": _local(next), "error": "unknown or revoked token"}, 401)
    with engine.begin() as conn:  # logins are on the audit trail, like every other use of a token
        event = AuditEvent(
            principal.actor, "ui.login", f"token:{principal.token_id}", principal.workspace, source="api"
        )
        record_events(conn, [event])
    response = RedirectResponse(_local(next) or str(request.url_for("ui_health")), status_code=303)
    sessions.set_cookie(response, request, request.app.state.ui_sessions.issue(principal))
    return response


@router.post("/logout", name="ui_logout")
def logout(request: Request, session: sessions.UiSession, csrf: Csrf) -> Response:
    sessions.check_action(request, session, csrf, needed=session.principal.role)
    response = RedirectResponse(str(request.url_for("ui_login")), status_code=303)
    sessions.clear_cookie(response, request)
    return response


def _local(target: str) -> str:
    """Only a path on this site: a login link must not bounce the browser to another one."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else ""
