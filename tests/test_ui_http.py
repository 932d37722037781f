"""The web UI's access rules over HTTP against a live server (SQLite and PostgreSQL): login, the session
cookie, CSRF, roles, workspaces; and that every asset ships in the package (the UI works offline)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from otel_agent.api.tables import audit_events
from otel_agent.api.tokens import TokenStore
from otel_agent.store.models import failures
from tests.api_fixtures import Stack, database, stack
from tests.ui_support import csrf_of, login

PAGES = ("/", "/runs", "/failures", "/cost", "/cost?by=model", "/cost?by=stage&days=7", "/triggers", "/audit")


@pytest.fixture(params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with database(request.param, str(tmp_path), postgres) as url, stack(url) as s:
        yield s


def _browser(s: Stack) -> httpx.Client:
    return httpx.Client(base_url=s.base_url, timeout=10, follow_redirects=False)


def _open(s: Stack, failure_id: str) -> bool:
    with s.engine.connect() as conn:
        return not conn.scalar(sa.select(failures.c.resolved).where(failures.c.failure_id == failure_id))


def test_without_a_session_every_page_redirects_to_the_login(live: Stack) -> None:
    with _browser(live) as client:
        for path in (*PAGES, f"/runs/{live.seeded.failed_run}"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert "/login?next=" in response.headers["location"]
        assert client.get("/live", params={"ids": live.seeded.failed_run}).status_code == 401
        assert client.get("/login").status_code == 200
        assert client.get("/static/ui.css").status_code == 200  # assets need no session


def test_a_bad_token_is_refused_and_the_cookie_is_safe(live: Stack) -> None:
    with _browser(live) as client:
        refused = client.post("/login", data={"token": "oat_not-a-token"})
        assert refused.status_code == 401 and "unknown or revoked token" in refused.text
        token = live.tokens[("acme", "viewer")]
        ok = client.post("/login", data={"token": token, "next": "//evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"].endswith("/")  # never off-site
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert token not in ok.headers["set-cookie"]  # the session names the token, never holds it
        for path in PAGES:
            assert client.get(path).status_code == 200, path


def test_a_tampered_or_revoked_session_logs_out(live: Stack) -> None:
    with _browser(live) as client:
        login(client, live.tokens[("acme", "operator")])
        assert client.get("/runs").status_code == 200
        value = client.cookies["otel_agent_session"]
        client.cookies.set("otel_agent_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert client.get("/runs").status_code == 303
        client.cookies.set("otel_agent_session", value)
        store = TokenStore(live.engine)
        token_id = next(t.id for t in store.list("acme") if t.name == "acme-operator")
        store.revoke(token_id)
        assert client.get("/runs").status_code == 303  # revoking the token ends its sessions at once


def test_an_operator_resolves_only_with_this_sessions_nonce_and_origin(live: Stack) -> None:
    failure_id = live.seeded.failure_ids[0]
    with _browser(live) as client:
        login(client, live.tokens[("acme", "operator")])
        page = client.get(f"/failures/{failure_id}")
        nonce = csrf_of(page.text)
        assert client.post(f"/failures/{failure_id}/resolve", data={"csrf": "forged"}).status_code == 403
        foreign = {"Origin": "https://evil.example"}
        assert (
            client.post(f"/failures/{failure_id}/resolve", data={"csrf": nonce}, headers=foreign).status_code
            == 403
        )
        assert _open(live, failure_id)
        done = client.post(f"/failures/{failure_id}/resolve", data={"csrf": nonce})
        assert done.status_code == 303 and not _open(live, failure_id)
        with live.engine.connect() as conn:
            actions = list(
                conn.scalars(sa.select(audit_events.c.action).where(audit_events.c.workspace == "acme"))
            )
        assert actions.count("failure.resolve") == 1 and "ui.login" in actions


def test_an_operator_resolves_a_whole_group(live: Stack) -> None:
    with _browser(live) as client:
        login(client, live.tokens[("acme", "operator")])
        nonce = csrf_of(client.get("/failures").text)
        group = {
            "csrf": nonce,
            "error_category": "rate_limit",
            "error_type": "429",
            "message": "Rate limit reached",
        }
        done = client.post("/failures/resolve", data=group)
        assert done.status_code == 303 and "resolved=2" in done.headers["location"]
    assert not _open(live, live.seeded.failure_ids[0]) and not _open(live, live.seeded.failure_ids[1])
    assert _open(live, live.seeded.failure_ids[2]) and _open(live, live.seeded.globex_failure)


def test_a_viewer_sees_everything_and_changes_nothing(live: Stack) -> None:
    failure_id = live.seeded.failure_ids[0]
    with _browser(live) as client:
        login(client, live.tokens[("acme", "viewer")])
        page = client.get(f"/failures/{failure_id}")
        assert page.status_code == 200 and 'id="resolve"' not in page.text
        assert "Resolve" not in client.get("/failures").text
        refused = client.post(f"/failures/{failure_id}/resolve", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403 and "needs operator" in refused.text
        group = {"csrf": csrf_of(page.text), "error_category": "rate_limit", "error_type": "429"}
        assert client.post("/failures/resolve", data=group).status_code == 403
    assert _open(live, failure_id)


def test_another_workspace_sees_nothing(live: Stack) -> None:
    acme_ids = set(live.seeded.acme_runs) | set(live.seeded.failure_ids)
    with _browser(live) as client:
        login(client, live.tokens[("globex", "admin")])
        for path in PAGES:
            text = client.get(path).text
            assert not any(i in text for i in acme_ids), path
        assert client.get(f"/runs/{live.seeded.failed_run}").status_code == 404
        failure_id = live.seeded.failure_ids[0]
        assert client.get(f"/failures/{failure_id}").status_code == 404
        assert client.get("/live", params={"ids": live.seeded.failed_run}).json() == {}
        nonce = csrf_of(client.get("/failures").text)
        assert client.post(f"/failures/{failure_id}/resolve", data={"csrf": nonce}).status_code == 404
    assert _open(live, live.seeded.failure_ids[0])


def test_bad_filters_are_a_clear_400(live: Stack) -> None:
    with _browser(live) as client:
        login(client, live.tokens[("acme", "viewer")])
        for path, words in (
            ("/runs?since=yesterday", "not a date"),
            ("/runs?status=exploded", "status must be one of"),
            ("/runs?project=" + "x" * 201, "at most 200"),
            ("/runs?project=a%00b", "without NUL"),
            ("/runs?cursor=garbage", "malformed cursor"),
            ("/cost?by=colour", "by must be one of"),
            ("/failures?state=maybe", "state must be one of"),
        ):
            response = client.get(path)
            assert response.status_code == 400 and words in response.text, path


def test_the_run_list_filters_and_pages(live: Stack) -> None:
    with _browser(live) as client:
        login(client, live.tokens[("acme", "viewer")])
        failed = client.get("/runs", params={"status": "failed", "within": "24h", "user": "u2"}).text
        assert re.findall(r'data-run="(\w+)"', failed) == [live.seeded.failed_run]
        assert client.get("/runs", params={"project": "nope"}).text.count("data-run=") == 0
        first = client.get("/runs").text
        assert "next-page" not in first  # 12 runs fit one page of 50


def test_every_asset_ships_in_the_package_and_nothing_loads_from_elsewhere() -> None:
    package = resources.files("otel_agent.api.ui")
    names = {p.name for p in (package / "templates").iterdir()} | {
        p.name for p in (package / "static").iterdir()
    }
    assert {"base.html", "run.html", "ui.css", "ui.js", "favicon.svg"} <= names
    for folder in ("templates", "static"):
        for item in (package / folder).iterdir():
            text = item.read_text()
            external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
            assert not external and "@import" not in text, item.name
