"""The same semantics on every store behind otel_agent.store.backend: SQLite, PostgreSQL and ClickHouse
(embedded through chDB). Runs, steps and failures; idempotent; order-free; nested runs; markers; stalls;
failures resolved; and the usage report with exact percentiles."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from otel_agent import attributes as A
from otel_agent.record import SpanRecord
from otel_agent.store.backend import Store, open_store
from otel_agent.store.queries import RunFilter
from otel_agent.store.report import aggregate
from tests.test_store import marker, nested_trace
from tests.test_store_traces import T0, agent_trace, llm_attrs, run_id_of, span, strip_run_ids

BACKENDS = ["sqlite", "postgres", "chdb"]


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/store-{random.getrandbits(32)}.db"
    if kind == "postgres":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return str(request.getfixturevalue("fresh_chdb_url"))


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def opened(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """A function that opens a new empty store of this kind (closed after the test)."""
    stores: list[Store] = []

    def new() -> Store:
        store = open_store(_url(kind, request, tmp_path))
        if not store.is_current():
            store.upgrade()
        stores.append(store)
        return store

    yield new
    for store in stores:
        store.close()


@pytest.fixture
def store(opened: Any) -> Store:
    return opened()  # type: ignore[no-any-return]


def run_of(store: Store, run_id: str) -> dict[str, Any]:
    [row] = [r for r in store.list_runs(RunFilter(limit=10_000)) if r["run_id"] == run_id]
    return row


def dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """What a reader sees: every run and every failure, in key order, without the write-time column."""
    runs = sorted(store.list_runs(RunFilter(limit=10_000)), key=lambda r: r["run_id"])
    failures = sorted(store.list_failures(limit=10_000), key=lambda r: r["failure_id"])
    drop = {"updated_at"}
    return {
        "runs": [{k: v for k, v in r.items() if k not in drop} for r in runs],
        "failures": failures,
    }


def test_a_run_with_its_steps(store: Store) -> None:
    trace = agent_trace(1, steps=20, fail_step=4)
    assert store.write(trace).written == len(trace)
    run = run_of(store, run_id_of(trace))
    assert run["status"] == "succeeded" and run["span_seen"] is True
    assert (run["project"], run["stage"], run["agent_role"], run["workspace"]) == (
        "books",
        "draft",
        "writer",
        "acme",
    )
    assert (run["trigger_type"], run["trigger_id"], run["user_id"]) == ("user", "user-42", "user-42")
    assert run["tags"] == {"style": "noir"}
    assert run["models"] == ["gpt-4o"] and run["providers"] == ["openai"]
    llm = [r for r in trace if r.attributes.get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT]
    assert run["llm_calls"] == len(llm) - 1  # the retry is the same call again
    assert (run["tool_calls"], run["error_count"]) == (6, 1)
    assert run["input_tokens"] == sum(r.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for r in llm)
    assert run["cost_usd"] == pytest.approx(sum(r.attributes[A.COST_USD] for r in llm))
    assert run["started_at"] == datetime.fromtimestamp((T0 + 1e9) / 1e9, tz=timezone.utc)
    [failure] = store.list_failures()
    assert failure["error_category"] == "rate_limit" and failure["exception_type"] == "RateLimitError"
    assert failure["run_id"] == run["run_id"] and failure["retry_attempt"] == 1
    assert failure["resolved"] is True and failure["resolved_at"] == run["ended_at"]


def test_duplicates_change_nothing(store: Store) -> None:
    trace = agent_trace(2, fail_step=3)
    store.write(trace)
    before = dump(store)
    store.write(trace)
    store.write(trace + trace)  # duplicates inside one batch too
    assert dump(store) == before
    assert run_of(store, run_id_of(trace))["llm_calls"] == before["runs"][0]["llm_calls"] > 0


@pytest.mark.parametrize("foreign", [False, True], ids=["with-run-ids", "parent-links-only"])
def test_any_order_and_batch_split_gives_the_same_rows(opened: Any, foreign: bool) -> None:
    traces = [agent_trace(seed, fail_step=seed % 3 or None) for seed in range(4)]
    records = [r for t in traces for r in (strip_run_ids(t) if foreign else t)]
    expected = _materialised(opened(), [records])
    rng = random.Random(7)
    for attempt in range(2):
        shuffled = records[::-1] if attempt == 0 else rng.sample(records, len(records))
        cuts = sorted(rng.sample(range(1, len(shuffled)), 6))
        batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
        assert _materialised(opened(), batches) == expected
    assert all(r["llm_calls"] for r in expected["runs"])  # every step found its run


def test_every_backend_shows_the_same_rows(store: Store, tmp_path: Any) -> None:
    """The rows a reader sees do not depend on the engine: compared with SQLite's."""
    records = [r for seed in range(3) for r in agent_trace(seed, fail_step=seed % 3 or None)]
    reference = open_store(f"sqlite:///{tmp_path}/reference.db")
    try:
        assert _materialised(store, [records]) == _materialised(reference, [records])
    finally:
        reference.close()


def _materialised(store: Store, batches: list[list[SpanRecord]]) -> dict[str, list[dict[str, Any]]]:
    for batch in batches:
        store.write(batch)
    return dump(store)


@pytest.mark.parametrize("foreign", [False, True], ids=["with-run-ids", "parent-links-only"])
def test_nested_runs_know_parent_and_root_in_any_order(store: Store, foreign: bool) -> None:
    records, outer, inner = nested_trace(foreign)
    for record in reversed(records):  # deepest first, one per batch
        store.write([record])
    outer_row, inner_row = run_of(store, outer), run_of(store, inner)
    assert (inner_row["parent_run_id"], inner_row["root_run_id"]) == (outer, outer)
    assert (outer_row["parent_run_id"], outer_row["root_run_id"]) == (None, outer)
    assert (inner_row["input_tokens"], inner_row["cost_usd"], inner_row["llm_calls"]) == (10, 0.5, 1)
    assert (outer_row["input_tokens"], outer_row["llm_calls"]) == (0, 0)
    assert (outer_row["tree_input_tokens"], outer_row["tree_llm_calls"]) == (10, 1)  # with the nested run's


def test_a_three_level_chain_arriving_bottom_up_finds_its_top(store: Store) -> None:
    """Foreign spans (parent links only): each run's root is the top however the chain arrived."""
    trace_id = "ab" * 16
    ids = ["00000000000000a1", "00000000000000a2", "00000000000000a3"]
    op = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT}
    runs = [
        span(trace_id, ids[i], ids[i - 1] if i else None, f"invoke_agent r{i}", op, T0 + i, T0 + 9 - i)
        for i in range(3)
    ]
    for run in (runs[2], runs[0], runs[1]):  # the middle one last
        store.write([run])
    assert [run_of(store, i)["root_run_id"] for i in ids] == [ids[0]] * 3
    assert [run_of(store, i)["parent_run_id"] for i in ids] == [None, ids[0], ids[1]]


def test_markers_show_a_run_in_flight_and_never_reopen_it(store: Store) -> None:
    trace = agent_trace(3, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)])
    row = run_of(store, run.span_id)
    assert row["status"] == "running" and row["name"] == run.name and row["project"] == "books"
    heartbeat = run.start_time_unix_nano + 5_000_000
    store.write([marker(run, A.MARKER_RUN_HEARTBEAT, heartbeat)])
    assert run_of(store, run.span_id)["last_heartbeat_at"] == datetime.fromtimestamp(
        heartbeat / 1e9, timezone.utc
    )
    store.write(trace)
    store.write([marker(run, A.MARKER_RUN_HEARTBEAT, heartbeat - 1000)])  # a late, older heartbeat
    row = run_of(store, run.span_id)
    assert row["status"] == "succeeded" and row["span_seen"] is True
    last_step_end = max(r.end_time_unix_nano for r in trace[:-1])
    assert row["last_heartbeat_at"] == datetime.fromtimestamp(last_step_end / 1e9, timezone.utc)


def test_a_silent_run_stalls_and_a_late_end_still_closes_it(store: Store) -> None:
    trace = agent_trace(4, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)] + trace[:5])
    started = datetime.fromtimestamp(run.start_time_unix_nano / 1e9, timezone.utc)
    assert store.sweep(600, now=started + timedelta(seconds=599)) == []
    assert store.sweep(600, now=started + timedelta(seconds=601)) == [run.span_id]
    assert store.sweep(600, now=started + timedelta(seconds=700)) == []  # already stalled
    row = run_of(store, run.span_id)
    assert (row["status"], row["error_category"]) == ("stalled", "stalled")
    assert [r["run_id"] for r in store.stalled_runs(include_running=False)] == [run.span_id]
    [stall] = [f for f in store.list_failures() if f["source"] == "stall"]
    assert stall["run_id"] == run.span_id and stall["resolved"] is False
    assert [f["failure_id"] for f in store.list_failures(open_only=True)] == [stall["failure_id"]]
    store.write(trace)  # the run ends after all
    row = run_of(store, run.span_id)
    assert (row["status"], row["error_category"], row["llm_calls"]) == ("succeeded", None, 13)
    [stall] = [f for f in store.list_failures() if f["source"] == "stall"]
    assert stall["resolved"] is True and stall["resolved_at"] == row["ended_at"]
    assert store.list_failures(open_only=True) == []


def test_a_failed_run_keeps_its_failures_open(store: Store) -> None:
    trace = agent_trace(5, fail_step=2)
    run = trace[-1]
    failed = span(
        run.trace_id,
        run.span_id,
        None,
        run.name,
        {**run.attributes, A.ERROR_CATEGORY: "timeout"},
        run.start_time_unix_nano,
        run.end_time_unix_nano,
        "ERROR",
        status_message="gave up",
    )
    store.write([*trace[:-1], failed])
    row = run_of(store, run.span_id)
    assert (row["status"], row["error_category"], row["error_message"]) == ("failed", "timeout", "gave up")
    assert sorted((f["source"], f["resolved"]) for f in store.list_failures()) == [
        ("run", False),
        ("step", False),
    ]


def _report_load() -> list[SpanRecord]:
    """Runs over two projects and stages, with calls of two models whose durations vary."""
    records: list[SpanRecord] = []
    for seed in range(12):
        trace = agent_trace(
            seed,
            steps=9,
            project=("books", "cards")[seed % 2],
            stage=("draft", "edit")[seed % 3 % 2],
            fail_step=4 if seed % 5 == 0 else None,
        )
        rng = random.Random(seed)
        for i, r in enumerate(trace):
            if r.attributes.get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT:
                model = ("gpt-4o", "claude-sonnet-4")[i % 2]
                end = r.start_time_unix_nano + rng.randrange(1, 5_000) * 1_000_000
                attrs = {**r.attributes, **llm_attrs(model, 100 + i, 10 + i, 0.01)}
                trace[i] = span(
                    r.trace_id,
                    r.span_id,
                    r.parent_span_id,
                    r.name,
                    attrs,
                    r.start_time_unix_nano,
                    end,
                    r.status_code,
                    events=r.events,
                )
        if seed == 7:  # still running: no run span
            trace = trace[:-1]
        records += trace
    return records


@pytest.mark.parametrize("by", ["project", "stage", "role", "status", "model", "provider", "style"])
def test_the_report_matches_the_python_aggregation(store: Store, tmp_path: Any, by: str) -> None:
    """Every backend's report (aggregated where the rows are) equals the plain Python aggregation over
    SQLite's rows, exact percentiles included."""
    records = _report_load()
    store.write(records)
    reference = open_store(f"sqlite:///{tmp_path}/reference.db")
    try:
        reference.write(records)
        where = RunFilter(since=datetime.fromtimestamp(T0 / 1e9, timezone.utc) - timedelta(days=1))
        assert store.usage_report(where, by) == reference.usage_report(where, by)
        assert len(store.usage_report(where, by)) >= 1
        narrower = RunFilter(project="books", since=where.since)
        assert store.usage_report(narrower, by) == reference.usage_report(narrower, by)
    finally:
        reference.close()


def test_python_aggregation_is_what_sqlite_reports(tmp_path: Any) -> None:
    """The reference above is SQLite's report, which is report.aggregate over its rows."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        store.write(_report_load())
        rows = store.list_runs(RunFilter(limit=1000))
        by_project = aggregate(rows, lambda r: r["project"], "runs")
        assert [g["runs"] for g in by_project] == [6, 6]
        assert store.usage_report(RunFilter(), "project") == by_project
    finally:
        store.close()
