"""The materialiser against SQLite and a real PostgreSQL: rows, idempotency, order, nesting, stalls."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from otel_agent import attributes as A
from otel_agent.record import SpanRecord
from otel_agent.store import Materialiser, make_engine, upgrade
from otel_agent.store import models as M
from otel_agent.store.migrate import current_revisions, head_revisions
from tests.test_store_traces import T0, agent_trace, hex_id, run_id_of, span, strip_run_ids


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> Materialiser:
    return Materialiser(engine)


def dump(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the three tables, in key order, without the write-time column."""
    out = {}
    with engine.connect() as conn:
        for table in (M.runs, M.steps, M.failures):
            key = list(table.primary_key.columns)[0]
            rows = conn.execute(sa.select(table).order_by(key)).mappings()
            out[table.name] = [{k: v for k, v in r.items() if k != "updated_at"} for r in rows]
    return out


def run_row(engine: sa.Engine, run_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(M.runs).where(M.runs.c.run_id == run_id)).mappings().one())


def test_migration_matches_models_and_is_repeatable(engine: sa.Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert set(current_revisions(engine)) == set(head_revisions())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), M.metadata)
    ours = {t.name for t in M.metadata.sorted_tables}
    assert [d for d in diff if any(getattr(x, "name", None) in ours for x in _objects(d))] == []


def _objects(diff: Any) -> list[Any]:
    return [x for x in (diff if isinstance(diff, tuple) else diff[0]) if hasattr(x, "name")] + [
        getattr(x, "table", None) for x in (diff if isinstance(diff, tuple) else diff[0])
    ]


def test_a_run_with_its_steps(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(1, steps=20, fail_step=4)
    assert store.write(trace).written == len(trace)
    run = run_row(engine, run_id_of(trace))
    assert run["status"] == "succeeded"
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
    retries = [r for r in llm if r.attributes.get(A.RETRY_ATTEMPT)]  # attempt 1: the same call again
    assert len(retries) == 1 and run["llm_calls"] == len(llm) - 1
    assert run["tool_calls"] == 6 and run["error_count"] == 1
    assert run["input_tokens"] == sum(r.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for r in llm)
    assert run["cost_usd"] == pytest.approx(sum(r.attributes[A.COST_USD] for r in llm))
    assert run["started_at"] == datetime.fromtimestamp((T0 + 1e9) / 1e9, tz=timezone.utc)
    with engine.connect() as conn:
        failure = conn.execute(sa.select(M.failures)).mappings().one()
    assert failure["error_category"] == "rate_limit" and failure["exception_type"] == "RateLimitError"
    assert failure["run_id"] == run["run_id"] and failure["retry_attempt"] == 1
    assert failure["resolved"] is True  # the run succeeded after the retry


def test_totals_equal_the_sum_over_steps(store: Materialiser, engine: sa.Engine) -> None:
    for seed in range(5):
        store.write(agent_trace(seed, steps=7 + seed))
    with engine.connect() as conn:
        sums = conn.execute(
            sa.select(M.steps.c.run_id, sa.func.sum(M.steps.c.output_tokens), sa.func.count()).group_by(
                M.steps.c.run_id
            )
        ).all()
        runs = {r.run_id: r for r in conn.execute(sa.select(M.runs))}
    assert len(sums) == 5
    for run_id, output_tokens, _ in sums:
        assert runs[run_id].output_tokens == output_tokens


def test_duplicates_change_nothing(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(2, fail_step=3)
    store.write(trace)
    before = dump(engine)
    store.write(trace)
    store.write(trace + trace)  # duplicates inside one batch too
    assert dump(engine) == before


@pytest.mark.parametrize("foreign", [False, True], ids=["with-run-ids", "parent-links-only"])
def test_any_order_and_batch_split_gives_the_same_rows(db_url: str, tmp_path: Any, foreign: bool) -> None:
    traces = [agent_trace(seed, fail_step=seed % 3 or None) for seed in range(4)]
    records = [r for t in traces for r in (strip_run_ids(t) if foreign else t)]
    expected = _materialised(f"sqlite:///{tmp_path}/expected.db", [records])
    rng = random.Random(7)
    for attempt in range(3):
        shuffled = records[::-1] if attempt == 0 else rng.sample(records, len(records))
        cuts = sorted(rng.sample(range(1, len(shuffled)), 6))
        batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
        url = db_url if attempt == 0 else f"sqlite:///{tmp_path}/attempt{attempt}.db"
        assert _materialised(url, batches) == expected
    assert all(s["run_id"] for s in expected["otel_steps"])  # every step found its run


def _materialised(url: str, batches: list[list[SpanRecord]]) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    store = Materialiser(engine)
    for batch in batches:
        store.write(batch)
    try:
        return dump(engine)
    finally:
        engine.dispose()


def nested_trace(foreign: bool) -> tuple[list[SpanRecord], str, str]:
    """An outer workflow run whose step calls an inner agent run, which makes one LLM call."""
    rng = random.Random(11)
    trace_id, outer, step, inner, call = hex_id(rng, 32), *(hex_id(rng) for _ in range(4))
    def ids(run: str, parent: str | None = None) -> dict[str, Any]:
        if foreign:
            return {}
        return {A.RUN_ID: run, A.RUN_ROOT_ID: outer, **({A.RUN_PARENT_ID: parent} if parent else {})}

    op = lambda o: {A.GEN_AI_OPERATION_NAME: o}  # noqa: E731
    chat = {
        **op(A.OP_CHAT),
        A.GEN_AI_USAGE_INPUT_TOKENS: 10,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        A.COST_USD: 0.5,
    }
    records = [
        span(
            trace_id,
            outer,
            None,
            "invoke_workflow book",
            {**op(A.OP_INVOKE_WORKFLOW), **ids(outer)},
            T0,
            T0 + 9,
        ),
        span(trace_id, step, outer, "stage plan", {**ids(outer)}, T0 + 1, T0 + 8),
        span(
            trace_id,
            inner,
            step,
            "invoke_agent planner",
            {**op(A.OP_INVOKE_AGENT), **ids(inner, outer)},
            T0 + 2,
            T0 + 7,
        ),
        span(trace_id, call, inner, "chat gpt-4o", {**chat, **ids(inner, outer)}, T0 + 3, T0 + 4),
    ]
    return records, outer, inner


@pytest.mark.parametrize("foreign", [False, True], ids=["with-run-ids", "parent-links-only"])
def test_nested_runs_know_parent_and_root_in_any_order(engine: sa.Engine, foreign: bool) -> None:
    records, outer, inner = nested_trace(foreign)
    store = Materialiser(engine)
    for record in reversed(records):  # deepest first, one per batch
        store.write([record])
    outer_row, inner_row = run_row(engine, outer), run_row(engine, inner)
    assert (inner_row["parent_run_id"], inner_row["root_run_id"]) == (outer, outer)
    assert (outer_row["parent_run_id"], outer_row["root_run_id"]) == (None, outer)
    # the LLM call counts once: in the inner run, not again in the outer one
    assert (inner_row["input_tokens"], inner_row["cost_usd"], inner_row["llm_calls"]) == (10, 0.5, 1)
    assert (outer_row["input_tokens"], outer_row["llm_calls"]) == (0, 0)


def marker(run: SpanRecord, kind: str, at_ns: int) -> SpanRecord:
    attrs = {
        A.MARKER: kind,
        A.RUN_ID: run.span_id,
        A.RUN_START_TIME: run.start_time_unix_nano,
        A.RUN_NAME: run.name,
        A.PROJECT: "books",
    }
    return span(
        run.trace_id, hex_id(random.Random(at_ns)), run.span_id, A.MARKER_SPAN_NAME, attrs, at_ns, at_ns
    )


def test_markers_show_a_run_in_flight_and_never_reopen_it(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(3, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)])
    row = run_row(engine, run.span_id)
    assert row["status"] == "running" and row["name"] == run.name and row["project"] == "books"
    heartbeat = run.start_time_unix_nano + 5_000_000
    store.write([marker(run, A.MARKER_RUN_HEARTBEAT, heartbeat)])
    assert run_row(engine, run.span_id)["last_heartbeat_at"] == datetime.fromtimestamp(
        heartbeat / 1e9, timezone.utc
    )
    store.write(trace)
    store.write([marker(run, A.MARKER_RUN_HEARTBEAT, heartbeat - 1000)])  # a late, older heartbeat
    row = run_row(engine, run.span_id)
    assert row["status"] == "succeeded" and row["span_seen"] is True
    last_step_end = max(r.end_time_unix_nano for r in trace[:-1])  # a finished step is a sign of life too
    assert last_step_end > heartbeat
    assert row["last_heartbeat_at"] == datetime.fromtimestamp(last_step_end / 1e9, timezone.utc)


def test_a_run_whose_steps_keep_finishing_does_not_stall(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(6, with_markers=False)  # no markers at all, as from another language
    run = trace[-1]
    started = datetime.fromtimestamp(run.start_time_unix_nano / 1e9, timezone.utc)
    t0 = run.start_time_unix_nano
    late_step = span(run.trace_id, "00000000000000bb", run.span_id, "chat late", {A.RUN_ID: run.span_id},
                     t0 + 500 * 10**9, t0 + 550 * 10**9)  # fmt: skip
    store.write([*trace[:3], late_step])
    assert store.sweep(600, now=started + timedelta(seconds=700)) == []  # 150 s after the last step
    assert store.sweep(600, now=started + timedelta(seconds=1151)) == [run.span_id]


def test_a_silent_run_stalls_and_a_late_end_still_closes_it(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(4, with_markers=False)
    run = trace[-1]
    store.write([marker(run, A.MARKER_RUN_START, run.start_time_unix_nano)] + trace[:5])
    started = datetime.fromtimestamp(run.start_time_unix_nano / 1e9, timezone.utc)
    assert store.sweep(600, now=started + timedelta(seconds=599)) == []
    assert store.sweep(600, now=started + timedelta(seconds=601)) == [run.span_id]
    assert store.sweep(600, now=started + timedelta(seconds=700)) == []  # already stalled
    row = run_row(engine, run.span_id)
    assert (row["status"], row["error_category"]) == ("stalled", "stalled")
    with engine.connect() as conn:
        stall = conn.execute(sa.select(M.failures).where(M.failures.c.source == "stall")).mappings().one()
    assert stall["run_id"] == run.span_id and stall["resolved"] is False
    store.write(trace)  # the run ends after all
    row = run_row(engine, run.span_id)
    assert (row["status"], row["error_category"], row["llm_calls"]) == ("succeeded", None, 13)
    with engine.connect() as conn:
        stall = conn.execute(sa.select(M.failures).where(M.failures.c.source == "stall")).mappings().one()
    assert stall["resolved"] is True and stall["resolved_at"] == row["ended_at"]


def test_a_failed_run_keeps_its_failures_open(store: Materialiser, engine: sa.Engine) -> None:
    trace = agent_trace(5, fail_step=2)
    run = trace[-1]
    failed_run = span(
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
    store.write([*trace[:-1], failed_run])
    row = run_row(engine, run.span_id)
    assert (row["status"], row["error_category"], row["error_message"]) == ("failed", "timeout", "gave up")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(M.failures.c.source, M.failures.c.resolved)).all()
    assert sorted(rows) == [("run", False), ("step", False)]


def test_large_batches_redelivered_and_overlapping(
    store: Materialiser, engine: sa.Engine, tmp_path: Any
) -> None:
    """Batches big enough for PostgreSQL's COPY path, delivered again whole and in overlapping parts."""
    records = [r for seed in range(10) for r in agent_trace(seed, fail_step=seed % 4 or None)]
    expected = _materialised(f"sqlite:///{tmp_path}/once.db", [records])
    store.write(records)
    store.write(records)
    store.write(records[50:150])
    assert dump(engine) == expected
