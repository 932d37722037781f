"""The operator API over a real uvicorn server on 127.0.0.1, against SQLite and real PostgreSQL.

Read-only checks share one seeded server per backend; checks that change data get their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone
from urllib.parse import unquote

import pytest

from otel_agent.api.config import ApiConfig
from tests.api_fixtures import NOW, Stack, database, stack

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
CONFIG = ApiConfig(grafana_url="http://grafana.test:3000", tempo_uid="tempo-main")


def _postgres(request: pytest.FixtureRequest, kind: str) -> str | None:
    return request.getfixturevalue("postgres_url") if kind == "postgres" else None


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = str(tmp_path_factory.mktemp("api"))
    with database(request.param, tmp, _postgres(request, request.param)) as url, stack(url, CONFIG) as s:
        yield s


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = str(tmp_path_factory.mktemp("api"))
    with database(request.param, tmp, _postgres(request, request.param)) as url, stack(url, CONFIG) as s:
        yield s


# --- access ----------------------------------------------------------------------------------------

READ_PATHS = [
    "/api/v1/runs",
    "/api/v1/runs/a000000000000001",
    "/api/v1/failures",
    "/api/v1/failures/groups",
    "/api/v1/failures/c000000000000000",
    "/api/v1/users/u1/activity",
    "/api/v1/report",
    "/api/v1/health",
    "/api/v1/triggers",
    "/api/v1/audit",
    "/metrics",
]


@pytest.mark.parametrize("path", READ_PATHS)
def test_no_token_no_data(shared: Stack, path: str) -> None:
    with shared.client() as c:
        c.headers.pop("Authorization")
        missing = c.get(path)
        wrong = c.get(path, headers={"Authorization": "Bearer oat_not-a-real-token"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and "unknown" in wrong.json()["detail"]


@pytest.mark.parametrize("path", READ_PATHS)
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads(shared: Stack, path: str, role: str) -> None:
    with shared.client("acme", role) as c:
        assert c.get(path).status_code == 200


def test_liveness_needs_no_token_and_shows_no_data(shared: Stack) -> None:
    with shared.client() as c:
        c.headers.pop("Authorization")
        assert c.get("/healthz").json() == {"status": "ok"}


def test_revoked_token_is_refused_at_once(fresh: Stack) -> None:
    with fresh.client("acme", "admin") as admin:
        created = admin.post("/api/v1/tokens", json={"role": "viewer", "name": "temp"}).json()
        headers = {"Authorization": f"Bearer {created['token']}"}
        assert admin.get("/api/v1/runs", headers=headers).status_code == 200
        assert admin.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
        assert admin.get("/api/v1/runs", headers=headers).status_code == 401
        listed = admin.get("/api/v1/tokens").json()
    assert all("token" not in t for t in listed) and {t["workspace"] for t in listed} == {"acme"}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_token_management_needs_admin(shared: Stack, role: str) -> None:
    with shared.client("acme", role) as c:
        assert c.get("/api/v1/tokens").status_code == 403
        assert c.post("/api/v1/tokens", json={"role": "admin"}).status_code == 403
        assert c.delete("/api/v1/tokens/1").status_code == 403


# --- cross-workspace -------------------------------------------------------------------------------


def test_lists_show_only_the_tokens_workspace(shared: Stack) -> None:
    with shared.client("globex") as c:
        runs = c.get("/api/v1/runs").json()["items"]
        failures = c.get("/api/v1/failures").json()["items"]
        health = c.get("/api/v1/health").json()
    assert {r["run_id"] for r in runs} == set(shared.seeded.globex_runs)
    assert [f["failure_id"] for f in failures] == [shared.seeded.globex_failure]
    assert health["workspace"] == "globex" and health["open_failures"] == 1


def test_another_workspaces_objects_are_not_found(shared: Stack) -> None:
    with shared.client("globex", "admin") as c:
        assert c.get(f"/api/v1/runs/{shared.seeded.failed_run}").status_code == 404
        assert c.get(f"/api/v1/failures/{shared.seeded.failure_ids[0]}").status_code == 404
        assert c.post(f"/api/v1/failures/{shared.seeded.failure_ids[0]}/resolve").status_code == 404
        assert c.get("/api/v1/users/u2/activity").json()["runs"] == 0
        acme_token_ids = [1, 2, 3]  # minted first, for acme
        assert all(c.delete(f"/api/v1/tokens/{i}").status_code == 404 for i in acme_token_ids)


def test_group_resolve_never_touches_another_workspace(fresh: Stack) -> None:
    group = {"error_category": "rate_limit", "error_type": "429", "message": "Rate limit reached"}
    with fresh.client("acme", "operator") as c:
        assert c.post("/api/v1/failures/resolve", json=group).json() == {"resolved": 2}
    with fresh.client("globex") as c:
        assert c.get(f"/api/v1/failures/{fresh.seeded.globex_failure}").json()["resolved"] is False


# --- runs ------------------------------------------------------------------------------------------


def test_runs_newest_first_and_paged_without_gaps_or_repeats(shared: Stack) -> None:
    seen: list[str] = []
    cursor = None
    with shared.client() as c:
        for _ in range(10):  # bounded: 12 runs in pages of 5 is 3 pages
            page = c.get("/api/v1/runs", params={"limit": 5, **({"cursor": cursor} if cursor else {})}).json()
            seen += [r["run_id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == shared.seeded.acme_runs  # seeded 10 minutes apart, newest first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, {"a000000000000001"}),
        ({"status": "running"}, {"a000000000000002"}),
        ({"project": "news"}, {"a000000000000001"}),
        ({"user": "u2"}, {"a000000000000001"}),
        ({"workflow": "digest"}, {"a000000000000001"}),
        ({"trigger_type": "schedule"}, {"a000000000000001"}),
        ({"role": "nobody"}, set()),
        ({"stage": "draft", "status": "failed"}, {"a000000000000001"}),
    ],
)
def test_run_filters(shared: Stack, query: dict[str, str], expected: set[str]) -> None:
    with shared.client() as c:
        items = c.get("/api/v1/runs", params=query).json()["items"]
    assert {r["run_id"] for r in items} == expected


@pytest.mark.parametrize("offset_hours", [0, 2, -7])
def test_run_time_window(shared: Stack, offset_hours: int) -> None:
    zone = timezone(timedelta(hours=offset_hours))  # the same instants written in another time zone
    since = (NOW - timedelta(minutes=25)).astimezone(zone).isoformat()
    until = (NOW - timedelta(minutes=5)).astimezone(zone).isoformat()
    with shared.client() as c:
        items = c.get("/api/v1/runs", params={"since": since, "until": until}).json()["items"]
    assert [r["run_id"] for r in items] == ["a000000000000001", "a000000000000002"]


def test_one_run_has_steps_failures_children_and_a_grafana_link(shared: Stack) -> None:
    with shared.client() as c:
        detail = c.get(f"/api/v1/runs/{shared.seeded.failed_run}").json()
        parent = c.get("/api/v1/runs/a000000000000004").json()
    assert detail["run"]["status"] == "failed" and len(detail["steps"]) == 3
    assert len(detail["failures"]) == 3 and detail["run"]["tags"] == {"style": "noir"}
    url = unquote(detail["trace_url"])
    assert url.startswith("http://grafana.test:3000/explore?") and detail["run"]["trace_id"] in url
    assert '"uid":"tempo-main"' in url
    assert parent["child_run_ids"] == ["a000000000000003"]


# --- failures --------------------------------------------------------------------------------------


def test_failures_filtered_grouped_and_paged(shared: Stack) -> None:
    with shared.client() as c:
        timeouts = c.get("/api/v1/failures", params={"category": "timeout"}).json()["items"]
        groups = c.get("/api/v1/failures/groups").json()
        first = c.get("/api/v1/failures", params={"limit": 2}).json()
        rest = c.get("/api/v1/failures", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [f["message"] for f in timeouts] == ["read timed out"]
    assert [(g["error_category"], g["count"], g["open_count"]) for g in groups] == [
        ("rate_limit", 2, 2),
        ("timeout", 1, 1),
    ]
    ids = [f["failure_id"] for f in first["items"] + rest["items"]]
    assert sorted(ids) == sorted(shared.seeded.failure_ids) and rest["next_cursor"] is None


def test_resolve_needs_operator_and_is_audited_once(fresh: Stack) -> None:
    failure_id = fresh.seeded.failure_ids[0]
    with fresh.client("acme", "viewer") as viewer:
        assert viewer.post(f"/api/v1/failures/{failure_id}/resolve").status_code == 403
    with fresh.client("acme", "operator") as c:
        first = c.post(f"/api/v1/failures/{failure_id}/resolve").json()
        again = c.post(f"/api/v1/failures/{failure_id}/resolve")
        open_ids = [f["failure_id"] for f in c.get("/api/v1/failures").json()["items"]]
        resolved = c.get("/api/v1/failures", params={"state": "resolved"}).json()["items"]
        events = c.get("/api/v1/audit", params={"action": "failure.resolve"}).json()["items"]
    assert first["resolved"] is True and first["resolved_at"] and again.status_code == 200
    assert failure_id not in open_ids and [f["failure_id"] for f in resolved] == [failure_id]
    assert [(e["actor"], e["target"], e["source"]) for e in events] == [
        ("token:2:acme-operator", f"failure:{failure_id}", "api")
    ]


# --- users, health, triggers, metrics, audit -------------------------------------------------------


def test_user_activity(shared: Stack) -> None:
    with shared.client() as c:
        u2 = c.get("/api/v1/users/u2/activity", params={"recent": 5}).json()
        u1 = c.get("/api/v1/users/u1/activity", params={"days": 1, "recent": 0}).json()
    assert (u2["runs"], u2["failed"], u2["input_tokens"]) == (1, 1, 100)
    assert [p["project"] for p in u2["projects"]] == ["news"]
    assert [r["run_id"] for r in u2["recent_runs"]] == [shared.seeded.failed_run]
    assert (u1["runs"], u1["succeeded"], u1["recent_runs"]) == (11, 10, [])
    assert u1["cost_usd"] == pytest.approx(0.11)


def test_health_card(shared: Stack) -> None:
    with shared.client() as c:
        health = c.get("/api/v1/health").json()
    assert (health["failed_runs_24h"], health["running_runs"]) == (1, 1)
    assert health["open_failures"] >= 0 and len(health["recent_audit_events"]) <= 10
    latest = {
        t["workflow"]: (t["trigger_type"], t["trigger_id"]) for t in health["last_trigger_per_workflow"]
    }
    assert latest == {"book": ("user", "u1"), "digest": ("schedule", "nightly")}  # nested runs left out


def test_triggers_list_and_filters(shared: Stack) -> None:
    with shared.client() as c:
        everything = c.get("/api/v1/triggers", params={"limit": 100}).json()
        scheduled = c.get("/api/v1/triggers", params={"trigger_type": "schedule"}).json()
    assert len(everything) == 11  # the nested run was triggered by its parent, not listed
    assert [(t["workflow"], t["trigger_id"]) for t in scheduled] == [("digest", "nightly")]


def test_metrics_for_alert_rules(shared: Stack) -> None:
    with shared.client("globex") as c:
        response = c.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    lines = set(response.text.splitlines())
    assert 'otel_agent_failed_runs_24h{workspace="globex"} 2.0' in lines
    assert 'otel_agent_open_failures{workspace="globex"} 1.0' in lines
    assert "acme" not in response.text


def test_audit_events_recorded_through_the_api(fresh: Stack) -> None:
    event = {"actor": "user:7", "action": "book.publish", "target": "book:12", "details": {"n": 1}}
    with fresh.client("acme", "viewer") as viewer:
        assert viewer.post("/api/v1/audit", json=event).status_code == 403
    with fresh.client("acme", "operator") as c:
        assert c.post("/api/v1/audit", json=event).status_code == 201
        listed = c.get("/api/v1/audit", params={"actor": "user:7"}).json()["items"]
    with fresh.client("globex") as other:
        assert other.get("/api/v1/audit").json()["items"] == []
    assert listed[0]["details"] == {"n": 1, "recorded_by": "token:2:acme-operator"}


# --- malformed input: clear 4xx, never 500 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/runs?limit=0", 422),
        ("/api/v1/runs?limit=100000", 422),
        ("/api/v1/runs?limit=ten", 422),
        ("/api/v1/runs?since=yesterday", 422),
        ("/api/v1/runs?status=exploded", 422),
        ("/api/v1/runs?cursor=%%%%", 400),
        ("/api/v1/runs?cursor=WzEsMl0", 400),  # valid base64 of [1,2]: not a cursor we issued
        ("/api/v1/audit?cursor=WyIyMDI2LTAxLTAxIiwieCJd", 400),  # a run cursor's shape, non-integer key
        ("/api/v1/runs/" + "f" * 40, 422),
        ("/api/v1/failures?state=maybe", 422),
        ("/api/v1/users/u1/activity?days=-1", 422),
        ("/api/v1/triggers?latest=perhaps", 422),
    ],
)
def test_malformed_parameters_get_a_clear_4xx(shared: Stack, path: str, status: int) -> None:
    with shared.client() as c:
        response = c.get(path)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_malformed_bodies_get_a_clear_4xx(shared: Stack) -> None:
    with shared.client("acme", "admin") as c:
        assert c.post("/api/v1/tokens", json={"role": "superuser"}).status_code == 422
        assert (
            c.post(
                "/api/v1/tokens", content=b"\xff\xfe", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        assert c.post("/api/v1/failures/resolve", json={}).status_code == 422
        assert c.post("/api/v1/audit", json={"actor": "", "action": "x"}).status_code == 422


# --- report and purge ------------------------------------------------------------------------------


def test_report_groups_like_the_cli(shared: Stack) -> None:
    with shared.client() as c:
        by_project = c.get("/api/v1/report", params={"by": "project"}).json()
        by_model = c.get("/api/v1/report", params={"by": "model", "days": 1}).json()
        by_tag = c.get("/api/v1/report", params={"by": "tag:style"}).json()
    projects = {g["group"]: g for g in by_project["groups"]}
    assert set(projects) == {"books", "news"} and projects["news"]["runs"] == 1
    assert projects["books"]["runs"] == 11 and projects["books"]["input_tokens"] == 1100
    assert projects["news"]["success_rate"] == 0.0
    assert [(g["group"], g["calls"]) for g in by_model["groups"]] == [("gpt-4o", 4)]
    assert [(g["group"], g["runs"]) for g in by_tag["groups"]] == [("noir", 12)]


def test_report_is_scoped_to_the_workspace(shared: Stack) -> None:
    with shared.client("globex") as c:
        groups = c.get("/api/v1/report", params={"by": "user"}).json()["groups"]
    assert [(g["group"], g["runs"]) for g in groups] == [("u1", 2)]


def test_purge_needs_admin_stays_in_the_workspace_and_is_audited(fresh: Stack) -> None:
    with fresh.client("acme", "operator") as operator:
        assert operator.post("/api/v1/purge", json={"user_id": "u1"}).status_code == 403
    with fresh.client("acme", "admin") as admin:
        dry = admin.post("/api/v1/purge", json={"user_id": "u2", "dry_run": True}).json()
        assert len(admin.get("/api/v1/runs", params={"user": "u2"}).json()["items"]) == 1
        done = admin.post("/api/v1/purge", json={"user_id": "u1"}).json()
        left = admin.get("/api/v1/runs", params={"limit": 100}).json()["items"]
        events = admin.get("/api/v1/audit", params={"action": "data.purge"}).json()["items"]
        both = admin.post("/api/v1/purge", json={"user_id": "u1", "older_than_days": 3})
        neither = admin.post("/api/v1/purge", json={})
    with fresh.client("globex") as other:
        globex_runs = other.get("/api/v1/runs").json()["items"]
    assert dry == {"dry_run": True, "runs": 1, "steps": 3, "failures": 3}
    assert (done["runs"], done["steps"]) == (11, 1)
    assert [r["user_id"] for r in left] == ["u2"]
    assert len(globex_runs) == 2  # globex's u1 is another workspace's user: untouched
    assert [(e["target"], e["details"]["runs"]) for e in events] == [("user:u1", 11)]
    assert both.status_code == 422 and neither.status_code == 422


def test_runs_without_a_workspace_belong_to_default(fresh: Stack) -> None:
    import sqlalchemy as sa

    from otel_agent.api.auth import Role
    from otel_agent.api.tokens import TokenStore
    from otel_agent.store.models import failures, runs
    from tests.api_fixtures import failure_row, run_row

    with fresh.engine.begin() as conn:
        conn.execute(sa.insert(runs), [run_row("f000000000000001", None, 1, status="failed")])
        conn.execute(sa.insert(failures), [failure_row("f100000000000001", "f000000000000001", 1)])
    token, _ = TokenStore(fresh.engine).create("default", Role.VIEWER)
    headers = {"Authorization": f"Bearer {token}"}
    with fresh.client() as acme:
        default_runs = acme.get("/api/v1/runs", headers=headers).json()["items"]
        default_report = acme.get("/api/v1/report", headers=headers).json()["groups"]
        default_health = acme.get("/api/v1/health", headers=headers).json()
        acme_ids = {r["run_id"] for r in acme.get("/api/v1/runs", params={"limit": 100}).json()["items"]}
    assert [r["run_id"] for r in default_runs] == ["f000000000000001"]
    assert [(g["group"], g["runs"]) for g in default_report] == [("books", 1)]
    assert (default_health["failed_runs_24h"], default_health["open_failures"]) == (1, 1)
    assert "f000000000000001" not in acme_ids
