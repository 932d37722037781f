"""Shared pieces of the operator API tests: a migrated store with known rows, tokens, a live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from otel_agent.api import create_app
from otel_agent.api.auth import Role
from otel_agent.api.config import ApiConfig
from otel_agent.api.tokens import TokenStore
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import upgrade
from otel_agent.store.models import failures, runs, steps
from tests.services import free_port, temporary_database, wait_for_port

NOW = datetime.now(timezone.utc).replace(microsecond=0)
WORKSPACES = ("acme", "globex")


def run_row(run_id: str, workspace: str, minutes_ago: int, **extra: object) -> dict[str, object]:
    started = NOW - timedelta(minutes=minutes_ago)
    row: dict[str, object] = {
        "run_id": run_id,
        "trace_id": run_id * 2,
        "root_run_id": run_id,
        "parent_run_id": None,  # executemany takes its columns from the first row: name them all
        "error_category": None,
        "error_count": 0,
        "name": "invoke_workflow book",
        "operation": "invoke_workflow",
        "status": "succeeded",
        "workspace": workspace,
        "project": "books",
        "stage": "draft",
        "agent_role": "writer",
        "user_id": "u1",
        "workflow_name": "book",
        "trigger_type": "user",
        "trigger_id": "u1",
        "started_at": started,
        "ended_at": started + timedelta(seconds=30),
        "duration_ms": 30_000.0,
        "input_tokens": 100,
        "output_tokens": 50,
        "cost_usd": 0.01,
        "llm_calls": 1,
        "models": ["gpt-4o"],
        "providers": ["openai"],
        "tags": {"style": "noir"},
        "updated_at": NOW,
    }
    row.update(extra)
    return row


def step_row(span_id: str, run_id: str, minutes_ago: int, **extra: object) -> dict[str, object]:
    started = NOW - timedelta(minutes=minutes_ago)
    row: dict[str, object] = {
        "span_id": span_id,
        "trace_id": run_id * 2,
        "parent_span_id": run_id,
        "run_id": run_id,
        "name": "chat gpt-4o",
        "kind": "llm",
        "operation": "chat",
        "status": "ok",
        "provider": "openai",
        "request_model": "gpt-4o",
        "started_at": started,
        "ended_at": started + timedelta(seconds=2),
        "duration_ms": 2000.0,
        "input_tokens": 100,
        "output_tokens": 50,
        "cost_usd": 0.01,
    }
    row.update(extra)
    return row


def failure_row(failure_id: str, run_id: str, minutes_ago: int, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "failure_id": failure_id,
        "source": "step",
        "run_id": run_id,
        "span_id": failure_id,
        "trace_id": run_id * 2,
        "step_name": "chat gpt-4o",
        "project": "books",
        "stage": "draft",
        "error_category": "rate_limit",
        "error_type": "429",
        "message": "Rate limit reached",
        "occurred_at": NOW - timedelta(minutes=minutes_ago),
        "resolved": False,
    }
    row.update(extra)
    return row


@dataclass
class Seeded:
    """What seed() wrote, for assertions."""

    acme_runs: list[str]
    globex_runs: list[str]
    failed_run: str
    failure_ids: list[str]
    globex_failure: str


def seed(engine: sa.Engine) -> Seeded:
    """Acme: 12 runs (one failed with 3 failures, one running, one nested); globex: 2 runs, 1 failure."""
    acme = [f"a{i:015x}" for i in range(12)]
    run_rows = [run_row(rid, "acme", minutes_ago=10 * i) for i, rid in enumerate(acme)]
    run_rows[1].update(
        status="failed",
        error_category="rate_limit",
        user_id="u2",
        trigger_type="schedule",
        trigger_id="nightly",
        workflow_name="digest",
        project="news",
        error_count=3,
    )
    run_rows[2].update(status="running", ended_at=None, duration_ms=None)
    run_rows[3].update(
        parent_run_id=acme[4], root_run_id=acme[4], workflow_name=None, name="invoke_agent critic"
    )
    globex = ["b000000000000001", "b000000000000002"]
    run_rows += [run_row(rid, "globex", minutes_ago=5, user_id="u1", status="failed") for rid in globex]
    step_rows = [step_row(f"c{i:015x}", acme[1], minutes_ago=9) for i in range(3)]
    step_rows.append(step_row("d000000000000001", acme[0], minutes_ago=0))
    failure_ids = [f"c{i:015x}" for i in range(3)]
    failure_rows = [failure_row(fid, acme[1], minutes_ago=9 - i) for i, fid in enumerate(failure_ids)]
    failure_rows[2].update(error_category="timeout", error_type="ReadTimeout", message="read timed out")
    failure_rows.append(failure_row("e000000000000001", globex[0], minutes_ago=4))
    with engine.begin() as conn:
        conn.execute(sa.insert(runs), run_rows)
        conn.execute(sa.insert(steps), step_rows)
        conn.execute(sa.insert(failures), failure_rows)
    return Seeded(acme, globex, acme[1], failure_ids, "e000000000000001")


def migrated_engine(url: str) -> sa.Engine:
    engine = make_engine(url, for_writing=False)
    upgrade(make_engine(url))
    return engine


def mint_tokens(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """A token for every (workspace, role)."""
    store = TokenStore(engine)
    return {
        (ws, role.value): store.create(ws, role, f"{ws}-{role.value}")[0]
        for ws in WORKSPACES
        for role in Role
    }


@contextmanager
def serve(engine: sa.Engine, config: ApiConfig | None = None) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 in a thread, serving the API; yields its base URL."""
    with serve_app(create_app(engine, config)) as base_url:
        yield base_url


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Any ASGI app behind a real uvicorn server on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        if not wait_for_port(port, timeout_s=20):
            raise RuntimeError("the API server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def database(kind: str, tmp_dir: str, postgres_url: str | None) -> Iterator[str]:
    """A new empty database: a SQLite file, or a fresh database on the session's PostgreSQL server."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir}/api.db"
        return
    assert postgres_url is not None
    with temporary_database(postgres_url, prefix="api_") as url:
        yield url


@dataclass
class Stack:
    """A live API server over a seeded store, and a token per (workspace, role)."""

    base_url: str
    engine: sa.Engine
    tokens: dict[tuple[str, str], str]
    seeded: Seeded

    def client(self, workspace: str = "acme", role: str = "viewer") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[(workspace, role)]}"}
        # 60 s: a loaded machine can stall a request for seconds; a hung server still fails the test
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)


@contextmanager
def stack(url: str, config: ApiConfig | None = None) -> Iterator[Stack]:
    engine = migrated_engine(url)
    try:
        seeded, tokens = seed(engine), mint_tokens(engine)
        with serve(engine, config) as base_url:
            yield Stack(base_url, engine, tokens, seeded)
    finally:
        engine.dispose()
