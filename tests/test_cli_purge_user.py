"""`otel-agent purge --user` and the API's purge remove everything of a user's runs, and are audited.

Foreign SDKs put ``user.id`` on the outermost span only: the nested run, its steps and a failure whose
message names the user carry no user id, and must go too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from otel_agent import attributes as A
from otel_agent.api.tables import audit_events
from otel_agent.cli import main
from otel_agent.store import Materialiser, make_engine
from otel_agent.store.models import failures, runs, steps
from tests.test_store_traces import T0, llm_attrs, span

AGENT = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT}


def foreign_trace(n: int, user: str) -> list[Any]:
    """A root run naming ``user``, a nested run without a user, an LLM call in each, the nested one failed."""
    trace, root, nested = f"{n:032x}", f"{n:08x}00000001", f"{n:08x}00000002"
    t = T0 + n * 10**9
    failed = {**llm_attrs("gpt-4o", 10, 0, 0.0), A.ERROR_CATEGORY: "rate_limit"}
    return [
        span(trace, f"{n:08x}00000003", nested, "chat gpt-4o", failed, t + 2, t + 3, "ERROR",
             status_message=f"quota exceeded for {user}"),
        span(trace, f"{n:08x}00000004", root, "chat gpt-4o", llm_attrs("gpt-4o", 10, 5, 0.01), t + 4, t + 5),
        span(trace, nested, root, "invoke_agent researcher", AGENT, t + 1, t + 6),
        span(trace, root, None, "invoke_agent planner", {**AGENT, A.USER_ID: user}, t, t + 7),
    ]  # fmt: skip


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                 for t in (runs, steps, failures)}  # fmt: skip
    engine.dispose()
    return found


def stored(url: str) -> str:
    store = Materialiser(make_engine(url))
    store.write(foreign_trace(1, "erin") + foreign_trace(2, "frank"))
    store.engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return stored(f"sqlite:///{tmp_path}/purge.db")
    return stored(request.getfixturevalue("fresh_postgres_url"))


def test_the_cli_purges_nested_runs_their_steps_and_failures(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert counts(url) == {"otel_runs": 4, "otel_steps": 4, "otel_failures": 2}
    assert main(["purge", "--database-url", url, "--user", "erin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == {"runs": 2, "steps": 2, "failures": 1}
    assert counts(url) == {"otel_runs": 2, "otel_steps": 2, "otel_failures": 1}  # frank's trace stays
    engine = make_engine(url)
    with engine.connect() as conn:
        messages = conn.execute(sa.select(failures.c.message)).scalars().all()
        (event,) = conn.execute(sa.select(audit_events)).mappings()
    engine.dispose()
    assert not [m for m in messages if "erin" in (m or "")]
    assert (event["action"], event["target"], event["source"]) == ("data.purge", "user:erin", "cli")
    assert event["details"] == {"runs": 2, "steps": 2, "failures": 1} and event["actor"].startswith("cli")


def test_a_dry_run_counts_the_same_and_records_nothing(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--database-url", url, "--user", "erin", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == "would delete 2 runs, 2 steps, 1 failures"
    assert counts(url) == {"otel_runs": 4, "otel_steps": 4, "otel_failures": 2}
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one() == 0
    engine.dispose()


def test_the_api_purges_the_same_and_audits_it(url: str) -> None:
    import httpx

    from otel_agent.api.auth import Role
    from otel_agent.api.tokens import TokenStore
    from tests.api_fixtures import migrated_engine, serve

    engine = migrated_engine(url)
    token, _ = TokenStore(engine).create("default", Role.ADMIN)  # the foreign runs name no workspace
    with serve(engine) as base, httpx.Client(base_url=base, timeout=60) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        done = client.post("/api/v1/purge", json={"user_id": "erin"}).json()
        events = client.get("/api/v1/audit", params={"action": "data.purge"}).json()["items"]
    engine.dispose()
    assert done == {"dry_run": False, "runs": 2, "steps": 2, "failures": 1}
    assert counts(url) == {"otel_runs": 2, "otel_steps": 2, "otel_failures": 1}
    assert [(e["target"], e["source"], e["details"]) for e in events] == [
        ("user:erin", "api", {"runs": 2, "steps": 2, "failures": 1})
    ]
