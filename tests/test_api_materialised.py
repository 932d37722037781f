"""End to end: agent spans through the store's real materialiser, then read back over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from otel_agent.api.config import ApiConfig
from otel_agent.store.materialiser import Materialiser
from tests.api_fixtures import database, migrated_engine, mint_tokens, serve
from tests.test_store_traces import agent_trace, run_id_of

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with database(request.param, str(tmp_path), pg) as db_url:
        yield db_url


def test_materialised_runs_are_served_in_their_workspace(url: str) -> None:
    engine = migrated_engine(url)
    ok, failed = agent_trace(1, steps=6), agent_trace(2, steps=6, fail_step=4)
    Materialiser(engine).write(ok + failed)
    tokens = mint_tokens(engine)
    with serve(engine, ApiConfig(grafana_url="http://grafana:3000")) as base:
        acme = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[('acme', 'viewer')]}"})
        globex = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tokens[('globex', 'viewer')]}"}
        )
        runs = acme.get("/api/v1/runs").json()["items"]
        detail = acme.get(f"/api/v1/runs/{run_id_of(failed)}").json()
        triggers = acme.get("/api/v1/triggers").json()
        assert globex.get("/api/v1/runs").json()["items"] == []
    assert {r["run_id"] for r in runs} == {run_id_of(ok), run_id_of(failed)}
    # The step failed but the run went on to succeed: the store keeps the failure, resolved by the run's end.
    assert detail["run"]["status"] == "succeeded" and len(detail["steps"]) == 6
    assert [(f["error_category"], f["resolved"]) for f in detail["failures"]] == [("rate_limit", True)]
    assert detail["trace_url"].startswith("http://grafana:3000/explore")
    assert {(t["trigger_type"], t["trigger_id"]) for t in triggers} == {("user", "user-42")}
    engine.dispose()
