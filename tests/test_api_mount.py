"""The API mounted inside another ASGI app, and what callers see when the database is down."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from otel_agent.api import create_app
from otel_agent.guard import failure_counts
from otel_agent.store.engine import make_engine
from tests.api_fixtures import migrated_engine, mint_tokens, seed, serve, serve_app


def test_mounted_under_a_prefix_of_an_existing_app(tmp_path: Path) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path}/m.db")
    seeded, tokens = seed(engine), mint_tokens(engine)
    parent = FastAPI()

    @parent.get("/")
    def home() -> dict[str, str]:
        return {"app": "yours"}

    parent.mount("/agent-ops", create_app(engine))
    headers = {"Authorization": f"Bearer {tokens[('acme', 'viewer')]}"}
    with serve_app(parent) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        assert client.get("/").json() == {"app": "yours"}
        runs = client.get("/agent-ops/api/v1/runs", params={"limit": 1}).json()["items"]
        document = client.get("/agent-ops/openapi.json").json()
    assert [r["run_id"] for r in runs] == seeded.acme_runs[:1]
    assert "/api/v1/runs" in document["paths"]


def test_database_down_is_a_clear_503_not_a_crash() -> None:
    unreachable = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", for_writing=False)
    with serve(unreachable) as base:
        response = httpx.get(f"{base}/api/v1/runs", headers={"Authorization": "Bearer oat_x"}, timeout=30)
        alive = httpx.get(f"{base}/healthz", timeout=30)
    assert response.status_code == 503 and response.json() == {"detail": "database unavailable"}
    assert alive.status_code == 200
    assert failure_counts().get("api.database", 0) >= 1  # counted, not just logged
