"""Web UI pages over one million steps in PostgreSQL (issue 19: each page's data p95 under 100 ms).

The data of bench_api (50,000 runs of 20 LLM calls, 2,500 failures, 35 days, 5 workspaces; the LLM-call
roll-up built), plus 5,000 audit events. For each page: its data as the page gathers it
(otel_agent.api.ui.views, same process, no HTTP: the goal), then the whole page over HTTP from a real
uvicorn server with a logged-in viewer's session cookie (data + Jinja rendering + HTTP). Load average
printed beside the figures: the machine is shared. Baseline, interleaved call for call with each page's
data: the API's run-list route function (GET /api/v1/runs?limit=50 without HTTP; 3.4 ms p50 in
docs/benchmarks.md at load 2), so a page's ratio to it carries over to a quieter machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from bench.bench_api import RUNS, STEPS_PER_RUN, _generate, _measure, _p
from otel_agent.api.auth import Role
from otel_agent.api.config import ApiConfig
from otel_agent.api.routes import runs as run_routes
from otel_agent.api.tables import utcnow
from otel_agent.api.tokens import TokenStore
from otel_agent.api.ui import views
from otel_agent.store import call_rollup
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import upgrade
from tests.api_fixtures import serve
from tests.services import postgres_server

REQUESTS = 100
GOAL_MS = 100.0

_AUDIT_SQL = """
INSERT INTO otel_audit_events (at, workspace, actor, action, target, outcome, source)
SELECT now() - g * interval '7 minutes', 'ws' || (g % 5), 'user:' || (g % 50), 'document.delete',
  'doc:' || g, 'success', 'app'
FROM generate_series(1, 5000) AS g
"""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} / {five:.2f}"


def _run_list_route(engine: sa.Engine, principal: Any) -> Callable[[], object]:
    return lambda: run_routes.list_runs(principal, engine, limit=50)


def _pages(
    engine: sa.Engine, principal: Any, run_id: str, failure_id: str
) -> dict[str, Callable[[], object]]:
    """Each page's data, gathered as its route gathers it."""
    config = ApiConfig()
    failures = views.FailureFilters()
    return {
        "/ (health)": lambda: views.health_page(engine, principal, utcnow()),
        "/runs": lambda: views.runs_page(engine, principal, views.RunFilters(), None, utcnow()),
        "/runs?project=news&status=failed&within=7d": lambda: views.runs_page(
            engine, principal, views.RunFilters(project="news", status="failed", within="7d"), None, utcnow()
        ),
        "/runs/{id} (20 steps)": lambda: views.run_page(engine, principal, config, run_id, utcnow()),
        "/failures": lambda: views.failures_page(engine, principal, failures, None),
        "/failures/{id}": lambda: views.failure_page(engine, principal, failure_id),
        "/cost?by=project&days=30": lambda: views.cost_page(engine, principal, "project", 30, utcnow()),
        "/cost?by=stage&days=30": lambda: views.cost_page(engine, principal, "stage", 30, utcnow()),
        "/cost?by=model&days=30": lambda: views.cost_page(engine, principal, "model", 30, utcnow()),
        "/triggers": lambda: views.triggers_page(engine, principal, None, None, True),
        "/audit": lambda: views.audit_page(engine, principal, None, None, None),
    }


def _interleaved(
    gather: Callable[[], object], baseline: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """The page's data and the baseline, call for call, so both see the same load."""
    for _ in range(10):
        gather(), baseline()
    page, base = [], []
    for _ in range(REQUESTS):
        for call, samples in ((gather, page), (baseline, base)):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
    return page, base


def _url(name: str, run_id: str, failure_id: str) -> str:
    path = name.split(" ")[0]
    return path.replace("/runs/{id}", f"/runs/{run_id}").replace("/failures/{id}", f"/failures/{failure_id}")


def _get(client: httpx.Client, path: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(path)
        response.raise_for_status()
        return response.content

    return call


def _line(name: str, data: list[float], base: list[float], page: list[float]) -> str:
    p95 = _p(data, 95)
    verdict = "met" if p95 < GOAL_MS else "MISSED"
    return (
        f"{name:<44} data p50 {_p(data, 50):7.2f} p95 {p95:7.2f} ms ({verdict}; "
        f"{_p(data, 50) / _p(base, 50):4.1f}x baseline p50 {_p(base, 50):6.2f})   "
        f"page p50 {_p(page, 50):7.2f} p95 {_p(page, 95):7.2f} ms   {_load()}"
    )


def main() -> None:
    with postgres_server() as url:
        writer = make_engine(url)
        upgrade(writer)
        print(f"generated {RUNS:,} runs, {RUNS * STEPS_PER_RUN:,} steps in {_generate(writer):.1f} s")
        with writer.begin() as conn:
            conn.execute(sa.text(_AUDIT_SQL))
        call_rollup.refresh(writer, lookback_days=40)
        engine = make_engine(url, for_writing=False)
        with engine.connect() as conn:
            run_id = conn.scalar(
                sa.text("SELECT run_id FROM otel_runs WHERE workspace = 'ws0' ORDER BY run_id LIMIT 1")
            )
            failure_id = conn.scalar(
                sa.text(
                    "SELECT f.failure_id FROM otel_failures f JOIN otel_runs r USING (run_id) "
                    "WHERE r.workspace = 'ws0' LIMIT 1"
                )
            )
        token, _ = TokenStore(engine).create("ws0", Role.VIEWER, "bench")
        principal = TokenStore(engine).verify(token)
        print(
            f"{REQUESTS} requests a line after warm-up, one at a time; "
            f"{RUNS // 5:,} runs a workspace; {_load()}"
        )
        with serve(engine) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            assert client.post("/login", data={"token": token}).status_code == 303
            baseline = _run_list_route(engine, principal)
            for name, gather in _pages(engine, principal, run_id, failure_id).items():
                data, base = _interleaved(gather, baseline)
                page = _measure(_get(client, _url(name, run_id, failure_id)), REQUESTS)
                print(_line(name, data, base, page), flush=True)
        engine.dispose()
        writer.dispose()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s")
