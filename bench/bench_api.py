"""Operator API latency with one million steps in PostgreSQL (issue 7: p95 under 50 ms).

Data: 50,000 runs of 20 steps (1,000,000 LLM calls over 3 models, 0.2 to 10 s each) and 2,500 failures
over 35 days, in 5 workspaces, generated inside PostgreSQL with generate_series; each run last written
when it ended. Then the LLM-call roll-up is built for the past days (what the store's sweep does a few
days at a time), timed. A real uvicorn server
on 127.0.0.1 answers over HTTP with a viewer token. Baselines measured in the same run: the same SQL
through the same driver with no HTTP, auth or JSON (what the API adds is the ratio), and GET /healthz
(the HTTP round-trip floor), and for the report by model the exact statement over every call (what the
API ran before the roll-up; it still runs it when the report is also filtered by project). Measured: the
run list (goal), the 30-day report by project, by run tag, by model and by provider (goal), by model and
project (no goal), health.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
import sqlalchemy as sa

from otel_agent.api.auth import Role
from otel_agent.api.queries.report import WorkspaceRunFilter
from otel_agent.api.queries.runs import RunFilter, list_runs
from otel_agent.api.tokens import TokenStore
from otel_agent.store import call_rollup
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import upgrade
from otel_agent.store.queries import report_grouping
from otel_agent.store.report import every_call_statement
from tests.api_fixtures import serve
from tests.services import postgres_server

RUNS = 50_000
STEPS_PER_RUN = 20
WORKSPACES = 5
REQUESTS = 300
MODEL_REQUESTS = 100

_RUNS_SQL = """
INSERT INTO otel_runs (run_id, trace_id, root_run_id, name, operation, status, workspace, project, stage,
  agent_role, user_id, workflow_name, trigger_type, trigger_id, started_at, ended_at, duration_ms,
  input_tokens, output_tokens, cost_usd, llm_calls, tool_calls, error_count, models, providers, tags,
  span_seen, updated_at)
SELECT lpad(to_hex(g), 16, '0'), lpad(to_hex(g), 32, '0'), lpad(to_hex(g), 16, '0'), 'invoke_workflow book',
  'invoke_workflow', CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'succeeded' END, 'ws' || (g % :ws),
  (ARRAY['books', 'news', 'cards'])[1 + g % 3], (ARRAY['outline', 'draft', 'edit', 'review'])[1 + g % 4],
  'writer', 'u' || (g % 200), 'wf' || (g % 7), 'user', 'u' || (g % 200),
  now() - g * interval '60 seconds', now() - g * interval '60 seconds' + interval '30 seconds', 30000,
  20000, 4000, 0.2, 13, 7, (g % 20 = 0)::int, '["gpt-4o"]'::jsonb, '["openai"]'::jsonb,
  '{"style": "noir"}'::jsonb, true, now() - g * interval '60 seconds' + interval '30 seconds'
FROM generate_series(1, :runs) AS g
"""

_STEPS_SQL = """
INSERT INTO otel_steps (span_id, trace_id, parent_span_id, run_id, name, kind, operation, status, project,
  stage, agent_role, user_id, provider, request_model, response_model, started_at, ended_at, duration_ms,
  input_tokens, output_tokens, cost_usd, price_source)
SELECT lpad(to_hex(s + 4294967296), 16, '0'), lpad(to_hex(r), 32, '0'), lpad(to_hex(r), 16, '0'),
  lpad(to_hex(r), 16, '0'), 'chat gpt-4o', 'llm', 'chat', 'ok', (ARRAY['books', 'news', 'cards'])[1 + r % 3],
  (ARRAY['outline', 'draft', 'edit', 'review'])[1 + r % 4], 'writer', 'u' || (r % 200), 'openai',
  (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'])[1 + s % 3],
  (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4'])[1 + s % 3],
  now() - r * interval '60 seconds' + (s % :per) * interval '1 second',
  now() - r * interval '60 seconds' + (s % :per) * interval '1 second' + interval '1 second',
  200 + (s::bigint * 7919) % 9800 + (s % 997) / 1000.0,
  1000, 200, 0.01, 'genai-prices'
FROM (SELECT s, 1 + (s - 1) / :per AS r FROM generate_series(1, :steps) AS s) AS x
"""

_FAILURES_SQL = """
INSERT INTO otel_failures (failure_id, source, run_id, span_id, trace_id, step_name, project, stage,
  error_category, error_type, message, occurred_at, resolved)
SELECT lpad(to_hex(g + 8589934592), 16, '0'), 'step', lpad(to_hex(g), 16, '0'), NULL,
  lpad(to_hex(g), 32, '0'),
  'chat gpt-4o', 'books', 'draft', 'rate_limit', '429', 'Rate limit reached',
  now() - g * interval '60 seconds', g % 40 = 0
FROM generate_series(20, :runs, 20) AS g
"""


def _generate(engine: sa.Engine) -> float:
    started = time.perf_counter()
    steps = RUNS * STEPS_PER_RUN
    with engine.begin() as conn:
        conn.execute(sa.text(_RUNS_SQL), {"ws": WORKSPACES, "runs": RUNS})
        conn.execute(sa.text(_STEPS_SQL), {"per": STEPS_PER_RUN, "steps": steps})
        conn.execute(sa.text(_FAILURES_SQL), {"runs": RUNS})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] * 1000


def _measure(call: Callable[[], object], requests: int = REQUESTS) -> list[float]:
    for _ in range(min(20, requests)):  # warm caches and the connection pool
        call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def _get(client: httpx.Client, path: str, params: dict[str, str | int] | None = None) -> Callable[[], object]:
    def call() -> object:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response.content

    return call


def _raw_runs(engine: sa.Engine) -> Callable[[], object]:
    def call() -> object:
        with engine.connect() as conn:
            return list_runs(conn, "ws0", RunFilter(), 51)

    return call


def _every_call_sql(engine: sa.Engine) -> Callable[[], object]:
    """Baseline: the report by model as one statement over every call of the window (no roll-up),
    through the same driver, no HTTP."""
    where = WorkspaceRunFilter(workspace="ws0", since=datetime.now(timezone.utc) - timedelta(days=30))
    query = every_call_statement(where, report_grouping("model"))

    def call() -> object:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
            return conn.execute(query).all()

    return call


def _report(name: str, samples: list[float], baseline: list[float] | None = None, goal: bool = False) -> None:
    p50, p95 = _p(samples, 50), _p(samples, 95)
    ratio = f"  {p95 / _p(baseline, 95):6.2f}x baseline p95" if baseline else ""
    verdict = "" if not goal else ("  (goal < 50 ms: met)" if p95 < 50 else "  (goal < 50 ms: MISSED)")
    print(f"{name:<44} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms{ratio}{verdict}")


def main() -> None:
    with postgres_server() as url:
        writer = make_engine(url)
        upgrade(writer)
        print(f"generated {RUNS:,} runs, {RUNS * STEPS_PER_RUN:,} steps in {_generate(writer):.1f} s")
        started = time.perf_counter()
        built = call_rollup.refresh(writer, lookback_days=40)
        took = time.perf_counter() - started
        print(f"built the LLM-call roll-up: {len(built.days)} days, {len(built.hours)} hours in {took:.1f} s")
        engine = make_engine(url, for_writing=False)
        token, _ = TokenStore(engine).create("ws0", Role.VIEWER, "bench")
        with serve(engine) as base_url:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
                floor = _measure(_get(client, "/healthz"))
                raw = _measure(_raw_runs(engine))
                every_call = _measure(_every_call_sql(engine), MODEL_REQUESTS // 2)
                runs = _measure(_get(client, "/api/v1/runs", {"limit": 50}))
                filtered = _measure(_get(client, "/api/v1/runs", {"limit": 50, "project": "news"}))
                health = _measure(_get(client, "/api/v1/health"))
                report = _measure(_get(client, "/api/v1/report", {"by": "project", "days": 30}))
                report_tag = _measure(_get(client, "/api/v1/report", {"by": "tag:style", "days": 30}))
                report_model = _measure(
                    _get(client, "/api/v1/report", {"by": "model", "days": 30}), MODEL_REQUESTS
                )
                report_provider = _measure(
                    _get(client, "/api/v1/report", {"by": "provider", "days": 30}), MODEL_REQUESTS
                )
                model_project = _measure(
                    _get(client, "/api/v1/report", {"by": "model", "days": 30, "project": "news"}),
                    MODEL_REQUESTS // 2,
                )
        print(
            f"{REQUESTS} requests each (by model or provider: {MODEL_REQUESTS}) after warm-up; "
            f"{RUNS // WORKSPACES:,} runs a workspace"
        )
        _report("baseline: GET /healthz (HTTP floor)", floor)
        _report("baseline: same runs query, no HTTP", raw)
        _report("GET /api/v1/runs?limit=50", runs, raw, goal=True)
        _report("GET /api/v1/runs?limit=50&project=news", filtered, raw, goal=True)
        _report("GET /api/v1/health", health, raw)
        _report("GET /api/v1/report?by=project&days=30", report, raw, goal=True)
        _report("GET /api/v1/report?by=tag:style&days=30", report_tag, raw, goal=True)
        _report("baseline: by-model SQL over every call", every_call)
        _report("GET /api/v1/report?by=model&days=30", report_model, every_call, goal=True)
        _report("GET /api/v1/report?by=provider&days=30", report_provider, every_call, goal=True)
        _report("GET /api/v1/report?by=model&project=news", model_project, every_call)
        engine.dispose()
        writer.dispose()


if __name__ == "__main__":
    main()
