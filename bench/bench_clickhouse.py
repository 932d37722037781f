"""The ClickHouse store beside PostgreSQL (issue 18), each figure with the load average beside it.

1. Ingest: the same OTLP load (bench_sink's agent runs, 12 spans each) through `otel-agent sink` into
   PostgreSQL and into ClickHouse embedded through chDB, rounds interleaved, best of each; and the
   store's write directly (the sink's batch size), in this process.
2. The 30-day report by model: calls generated inside each engine (ClickHouse: INSERT ... SELECT FROM
   numbers(); PostgreSQL: generate_series, bench_api's data), 20 LLM calls a run over 35 days, 3 models,
   0.2 to 10 s each. PostgreSQL at 1M calls, by its roll-up (the production path) and by the statement over
   every call; chDB at 1M and at OTEL_AGENT_BENCH_CH_CALLS (default 100M; the ClickHouse engine does
   all the aggregation, exact percentiles by quantileExact, no roll-up).

`python -m bench clickhouse` (needs the clickhouse extra: `make venv-clickhouse`).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from bench import bench_api
from bench.bench_sink import REQUEST_SPANS, fresh_database, make_spans, sink_rates
from otel_agent.record_sdk import record_from_span
from otel_agent.settings import Settings
from otel_agent.store import call_rollup
from otel_agent.store.backend import SqlStore, open_store
from otel_agent.store.clickhouse import ClickHouseStore, facts
from otel_agent.store.clickhouse.client import json_each_row
from otel_agent.store.clickhouse.schema import STEP_COLUMNS
from otel_agent.store.content import ContentPolicy
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import upgrade
from otel_agent.store.plan import plan_batch
from otel_agent.store.queries import RunFilter
from tests.services import postgres_server

INGEST_RUNS = 2_500  # x 12 spans = 30,000 spans
ROUNDS = 2
REPORTS = 20  # timed reports after 2 warm-ups
PER_RUN = 20
SPAN_DAYS = 35
CHUNK = 10_000_000  # calls per INSERT ... SELECT
MODELS = "['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4']"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f}"


def _direct_rate(store: Any, records: list[Any], batch: int) -> float:
    store.write(records[:1])
    started = time.perf_counter()
    for i in range(1, len(records), batch):
        store.write(records[i : i + batch])
    elapsed = time.perf_counter() - started
    store.close()
    return (len(records) - 1) / elapsed


def ingest(server: str, base: Path) -> None:
    spans = make_spans(INGEST_RUNS)
    records = [record_from_span(s) for s in spans]
    bodies = [
        encode_spans(spans[i : i + REQUEST_SPANS]).SerializeToString() for i in range(0, len(spans), 512)
    ]
    batch = Settings().sink_batch_spans
    best: dict[str, float] = {}
    for n in range(ROUNDS):
        for name, url in (("postgres", fresh_database(server)), ("chdb", f"chdb://{base}/sink{n}")):
            written = sink_rates(url, bodies, len(spans), 1)["written"]
            best[f"sink {name}"] = max(best.get(f"sink {name}", 0.0), written)
            print(f"  round {n + 1}: sink -> {name:8} {written:8,.0f} spans/s  ({load()})", flush=True)
        best["direct postgres"] = max(
            best.get("direct postgres", 0.0), _direct_rate(SqlStore(fresh_database(server)), records, batch)
        )
        best["direct chdb"] = max(
            best.get("direct chdb", 0.0),
            _direct_rate(open_store(f"chdb://{base}/direct?database=d{n}"), records, batch),
        )
    print(f"{len(spans):,} spans ({INGEST_RUNS:,} runs of 12), best of {ROUNDS} interleaved rounds:")
    for how in ("sink", "direct"):
        pg, ch = best[f"{how} postgres"], best[f"{how} chdb"]
        label = "sink (1 writer)" if how == "sink" else f"store.write, {batch} spans a call"
        print(f"  {label:32} PostgreSQL {pg:8,.0f}  chDB {ch:8,.0f} spans/s  chDB/PostgreSQL {ch / pg:.2f}x")


def engine_insert_rate(base: Path) -> None:
    """What the ClickHouse engine alone takes in: the steps of the ingest load, serialised once, inserted
    as the writer inserts them (JSONCompactEachRow from a file); the Python side is not timed."""
    records = [record_from_span(s) for s in make_spans(INGEST_RUNS)]
    store = ClickHouseStore(f"chdb://{base}/engine?database=insert")
    store.upgrade()
    plan = plan_batch(records, lambda ids: {}, ContentPolicy(), datetime.now(timezone.utc))
    rows = facts.steps(plan)
    body = json_each_row(STEP_COLUMNS, rows)
    path = base / "steps.jsonl"
    path.write_bytes(body)
    columns = ", ".join(STEP_COLUMNS)
    statement = f"INSERT INTO otel_ch_steps ({columns}) FROM INFILE '{path}' FORMAT JSONCompactEachRow"
    samples = timed(lambda: store.client.command(statement), 10)
    best = len(rows) / min(samples)
    print(f"  ClickHouse engine alone: {len(rows):,} step rows an INSERT, best {best:10,.0f} rows/s", load())
    store.close()


_CH_RUNS = """
INSERT INTO otel_ch_run_facts (run_id, source, fact_id, trace_id, root_run_id, link_rank, name, operation,
    status, workspace, project, stage, agent_role, user_id, started_at, ended_at, duration_ms, tags)
SELECT leftPad(lower(hex(g)), 16, '0') AS id, 'span', '', leftPad(lower(hex(g)), 32, '0'), id, 1000000,
    'invoke_workflow book', 'invoke_workflow', if(g % 20 = 0, 'failed', 'succeeded'),
        concat('ws', toString(g % 5)),
    ['books', 'news', 'cards'][1 + g % 3], ['outline', 'draft', 'edit', 'review'][1 + g % 4], 'writer',
    concat('u', toString(g % 200)), {now} - toIntervalMicrosecond(g * {step_us}) AS started,
    started + toIntervalSecond(30), 30000, '{{"style":"noir"}}'
FROM (SELECT number + 1 AS g FROM numbers({runs}))
"""
_CH_STEPS = """
INSERT INTO otel_ch_steps (span_id, trace_id, parent_span_id, run_id, name, kind, operation, status, project,
    stage, agent_role, user_id, provider, request_model, response_model, started_at, ended_at, duration_ms,
    input_tokens, output_tokens, cost_usd, price_source, link_rank)
SELECT leftPad(lower(hex(s + 4294967296)), 16, '0'), leftPad(lower(hex(r)), 32, '0'),
    leftPad(lower(hex(r)), 16, '0'),
    leftPad(lower(hex(r)), 16, '0'), 'chat gpt-4o', 'llm', 'chat', 'ok', ['books', 'news',
        'cards'][1 + r % 3],
    ['outline', 'draft', 'edit', 'review'][1 + r % 4], 'writer', concat('u', toString(r % 200)), 'openai',
    {models}[1 + s % 3] AS m, m,
        {now} - toIntervalMicrosecond(r * {step_us}) + toIntervalSecond(s % {per}) AS st,
    st + toIntervalSecond(1), 200 + (s * 7919) % 9800 + (s % 997) / 1000.0, 1000, 200, 0.01, 'genai-prices', 1
FROM (SELECT number + 1 AS s, intDiv(number, {per}) + 1 AS r FROM numbers({offset}, {count}))
"""


def generate_clickhouse(store: ClickHouseStore, calls: int, now: datetime) -> float:
    """``calls`` LLM calls (and their runs) made by ClickHouse itself; returns the seconds it took."""
    runs = calls // PER_RUN
    step_us = SPAN_DAYS * 86_400 * 1_000_000 // runs
    at = f"toDateTime64('{now:%Y-%m-%d %H:%M:%S}', 6, 'UTC')"
    started = time.perf_counter()
    store.upgrade()
    store.client.command(_CH_RUNS.format(now=at, step_us=step_us, runs=runs))
    for offset in range(0, calls, CHUNK):
        count = min(CHUNK, calls - offset)
        store.client.command(
            _CH_STEPS.format(now=at, step_us=step_us, per=PER_RUN, models=MODELS, offset=offset, count=count)
        )
        print(
            f"    {offset + count:,} calls generated ({time.perf_counter() - started:.0f} s, {load()})",
            flush=True,
        )
    return time.perf_counter() - started


def timed(call: Callable[[], object], times: int = REPORTS) -> list[float]:
    for _ in range(2):
        call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def show(name: str, samples: list[float], goal_s: float | None = None) -> None:
    p50, p95 = statistics.median(samples), sorted(samples)[max(0, int(len(samples) * 0.95 + 0.5) - 1)]
    verdict = (
        "" if goal_s is None else ("  (goal <= 1 s: met)" if p95 <= goal_s else "  (goal <= 1 s: MISSED)")
    )
    print(f"  {name:58} p50 {p50 * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  ({load()}){verdict}", flush=True)


def clickhouse_report(base: Path, calls: int, goal: bool) -> list[float]:
    store = ClickHouseStore(f"chdb://{base}/report?database=calls_{calls}")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    took = generate_clickhouse(store, calls, now)
    rows = store.client.rows(
        "SELECT count() AS n, sum(bytes_on_disk) AS bytes FROM system.parts "
        "WHERE active AND database = currentDatabase() AND table = 'otel_ch_steps'"
    )[0]
    print(
        f"  chDB: {calls:,} calls in {took:.0f} s, "
        f"steps {rows['bytes'] / 2**30:.2f} GiB on disk in {rows['n']} parts"
    )
    where = RunFilter(since=now - timedelta(days=30))
    report = store.usage_report(where, "model")
    print(f"    -> {[(g['group'], g['calls'], g['p95_s']) for g in report]}")
    samples = timed(lambda: store.usage_report(where, "model"), REPORTS if calls <= 10_000_000 else 5)
    show(f"chDB {calls:,} calls: report by model, 30 days", samples, 1.0 if goal else None)
    store.close()
    return samples


def postgres_report(server: str) -> None:
    url = fresh_database(server)
    writer = make_engine(url)
    upgrade(writer)
    took = bench_api._generate(writer)
    call_rollup.refresh(writer, lookback_days=40)
    print(f"  PostgreSQL: {bench_api.RUNS * bench_api.STEPS_PER_RUN:,} calls in {took:.0f} s, roll-up built")
    store = SqlStore(url, for_writing=False)
    where = RunFilter(since=datetime.now(timezone.utc) - timedelta(days=30))
    show("PostgreSQL 1M calls: report by model (roll-up)", timed(lambda: store.usage_report(where, "model")))
    narrower = RunFilter(since=where.since, stage="draft")  # not in the roll-up's key: every call is read
    show(
        "PostgreSQL 1M calls: by model, stage=draft (every call)",
        timed(lambda: store.usage_report(narrower, "model")),
    )
    store.close()
    writer.dispose()


def main() -> None:
    calls = int(os.environ.get("OTEL_AGENT_BENCH_CH_CALLS", "100000000"))
    with (
        postgres_server() as server,
        tempfile.TemporaryDirectory(prefix="otel-agent-ch-", dir="/work") as tmp,
    ):
        base = Path(tmp)
        print(f"ingest ({load()}; the machine is shared: compare the interleaved ratio, not the absolutes)")
        ingest(server, base)
        engine_insert_rate(base)
        print("30-day report by model")
        postgres_report(server)
        clickhouse_report(base, 1_000_000, goal=False)
        narrower_ch = ClickHouseStore(f"chdb://{base}/report?database=calls_1000000")
        where = RunFilter(since=datetime.now(timezone.utc) - timedelta(days=30), stage="draft")
        show("chDB 1M calls: by model, stage=draft", timed(lambda: narrower_ch.usage_report(where, "model")))
        narrower_ch.close()
        if calls > 1_000_000:
            clickhouse_report(base, calls, goal=True)
