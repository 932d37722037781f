"""Bad input is stored with what is valid; valid spans beside it are never lost; content is private."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from otel_agent import attributes as A
from otel_agent.record import SpanEvent
from otel_agent.store import Materialiser, StoreUnavailable, make_engine
from otel_agent.store import models as M
from otel_agent.store.content import REDACTED, ContentPolicy
from otel_agent.store.materialiser import Materialiser as _M  # noqa: F401  (the documented entry point)
from tests.services import free_port
from tests.test_store_traces import T0, agent_trace, hex_id, run_id_of, span

MB = 1024 * 1024


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    url = (
        f"sqlite:///{tmp_path}/bad.db"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    engine = make_engine(url)
    yield engine
    engine.dispose()


def steps_by_id(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["span_id"]: dict(r) for r in conn.execute(sa.select(M.steps)).mappings()}


def bad_spans(trace_id: str, run_id: str) -> list[Any]:
    rng = random.Random(3)
    ids = [hex_id(rng) for _ in range(6)]
    base = {A.RUN_ID: run_id}
    return [
        # malformed numbers: strings, negatives, NaN, bools, lists
        span(
            trace_id,
            ids[0],
            run_id,
            "chat",
            {
                **base,
                A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                A.GEN_AI_USAGE_INPUT_TOKENS: "abc",
                A.GEN_AI_USAGE_OUTPUT_TOKENS: -5,
                A.COST_USD: float("nan"),
                A.RETRY_ATTEMPT: True,
                A.GEN_AI_REQUEST_MODEL: ["a", "b"],
            },
            T0,
            T0 + 10,
        ),
        # unknown status code, unknown run status, no attributes at all
        span(trace_id, ids[1], run_id, "odd", {A.RUN_STATUS: "weird"}, T0, T0 + 10, "BOGUS"),
        # 1 MB values everywhere a string goes
        span(
            trace_id,
            ids[2],
            run_id,
            "x" * MB,
            {**base, A.PROJECT: "p" * MB, A.ERROR_TYPE: "e" * MB},
            T0,
            T0 + 10,
            "ERROR",
            status_message="m" * MB,
            events=(SpanEvent("exception", T0, {A.EXCEPTION_STACKTRACE: "s" * MB}),),
        ),
        # not UTF-8: lone surrogates, bytes, NUL
        span(
            trace_id,
            ids[3],
            run_id,
            "bad\udc80name\x00",
            {**base, A.STAGE: b"\xff\xfe stage", A.AGENT_ROLE: "nul\x00role"},
            T0,
            T0 + 10,
        ),
        # absurd times
        span(trace_id, ids[4], run_id, "time", base, -1, 10**30),
        # malformed run id attribute: falls back to the parent link
        span(trace_id, ids[5], run_id, "rid", {A.RUN_ID: 12345}, T0, T0 + 10),
    ]


def test_bad_attributes_are_stored_with_what_is_valid(engine: sa.Engine) -> None:
    trace = agent_trace(1)
    run_id, trace_id = run_id_of(trace), trace[0].trace_id
    bad = bad_spans(trace_id, run_id)
    result = Materialiser(engine).write([*trace, *bad])
    assert (result.written, result.rejected) == (len(trace) + len(bad), 0)
    rows = steps_by_id(engine)
    chat, odd, big, utf, when, rid = (rows[s.span_id] for s in bad)
    assert (chat["input_tokens"], chat["output_tokens"], chat["cost_usd"], chat["retry_attempt"]) == (
        0,
        0,
        None,
        None,
    )
    assert chat["request_model"] == '["a", "b"]'
    assert (odd["status"], odd["run_id"]) == ("unset", run_id)
    assert len(big["name"]) == 512 and len(big["project"]) == 256 and big["status"] == "error"
    with engine.connect() as conn:
        failure = (
            conn.execute(sa.select(M.failures).where(M.failures.c.span_id == bad[2].span_id)).mappings().one()
        )
    assert len(failure["message"]) == 4096 and len(failure["exception_stacktrace"]) == 16384
    assert (
        utf["name"] == "bad?name\ufffd"
        and utf["stage"] == "\ufffd\ufffd stage"
        and utf["agent_role"] == "nul\ufffdrole"
    )
    assert when["started_at"] is None and when["duration_ms"] is None
    assert rid["run_id"] == run_id
    run = {r["run_id"]: r for r in _runs(engine)}[run_id]
    assert run["status"] == "succeeded" and run["error_count"] == 1


def _runs(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(M.runs)).mappings())


def test_malformed_ids_reject_only_that_span(engine: sa.Engine) -> None:
    trace = agent_trace(2)
    broken = span("not-hex", "zz", None, "broken", {}, T0, T0 + 1)
    result = Materialiser(engine).write([*trace, broken])
    assert (result.written, result.rejected) == (len(trace), 1)
    assert len(steps_by_id(engine)) == 20


def _poison(engine: sa.Engine) -> None:
    """A real database error for one span (named 'poison'), whatever we sanitise."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON otel_steps WHEN NEW.name = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON otel_steps FOR EACH ROW EXECUTE FUNCTION poison()"
            )


def test_a_row_the_database_refuses_costs_only_that_row(engine: sa.Engine) -> None:
    store = Materialiser(engine)
    store.write([])  # creates the schema
    _poison(engine)
    trace = agent_trace(3)
    poison = span(trace[0].trace_id, "00000000000000aa", run_id_of(trace), "poison", {}, T0, T0 + 1)
    result = store.write([*trace[:10], poison, *trace[10:]])
    assert (result.written, result.rejected) == (len(trace), 1)
    assert len(steps_by_id(engine)) == 20
    run = {r["run_id"]: r for r in _runs(engine)}[run_id_of(trace)]
    assert run["llm_calls"] == 13 and run["status"] == "succeeded"


def test_unreachable_database_raises_store_unavailable() -> None:
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(StoreUnavailable):
        Materialiser(engine).write(agent_trace(4))


def _content_span(text: str) -> Any:
    return span(
        "ab" * 16,
        "cd" * 8,
        None,
        "chat",
        {A.GEN_AI_INPUT_MESSAGES: text, A.GEN_AI_OUTPUT_MESSAGES: ["the", "answer"]},
        T0,
        T0 + 1,
    )


@pytest.mark.parametrize("enabled", [False, True])
def test_content_is_stored_only_when_enabled_redacted_and_capped(engine: sa.Engine, enabled: bool) -> None:
    prompt = "my key is sk-proj-abcdefghijklmnop1234 and mail me at ann@example.com " + "z" * 50_000
    Materialiser(engine, ContentPolicy(enabled=enabled, max_chars=1000)).write([_content_span(prompt)])
    row = steps_by_id(engine)["cd" * 8]
    if not enabled:
        assert row["input_content"] is None and row["output_content"] is None
        return
    assert "sk-proj" not in row["input_content"] and "ann@example.com" not in row["input_content"]
    assert row["input_content"].startswith(f"my key is {REDACTED} and mail me at {REDACTED}")
    assert len(row["input_content"]) == 1000
    assert row["output_content"] == '["the", "answer"]'


def test_a_statement_timeout_on_the_copy_path_means_unavailable(fresh_postgres_url: str) -> None:
    store = Materialiser(make_engine(fresh_postgres_url, statement_timeout_s=0.5))
    store.write([])  # schema
    blocker = make_engine(fresh_postgres_url)
    with blocker.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("LOCK TABLE otel_steps IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreUnavailable):
            store.write(agent_trace(9))  # 20 steps: written with COPY, on the driver's own cursor
        conn.exec_driver_sql("ROLLBACK")
    blocker.dispose()
    assert store.write(agent_trace(9)).written == 22


def test_a_deadlock_that_keeps_recurring_spools_instead_of_rejecting(fresh_postgres_url: str) -> None:
    """PostgreSQL aborting the batch as a deadlock victim every time says nothing about the data: the
    writer must be told to spool and retry (StoreUnavailable), never to count the spans as rejected."""
    store = Materialiser(make_engine(fresh_postgres_url))
    store.write([])  # schema
    admin = make_engine(fresh_postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION deadlock_victim() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER always_deadlocked BEFORE INSERT ON otel_steps "
            "FOR EACH ROW EXECUTE FUNCTION deadlock_victim()"
        )
    with pytest.raises(StoreUnavailable):
        store.write(agent_trace(11))
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER always_deadlocked ON otel_steps")
    admin.dispose()
    assert store.write(agent_trace(11)).written == 22
