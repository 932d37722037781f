"""Two writers on one PostgreSQL (two sinks): a step whose run another writer is committing at the same
moment is linked at write time, whichever commits first, not left for the next sweep."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from otel_agent.record import SpanRecord
from otel_agent.store import Materialiser, make_engine, upgrade
from otel_agent.store import models as M
from tests.test_store_traces import agent_trace, strip_run_ids

pytestmark = pytest.mark.postgres
HELD_S = 0.5  # how long the first writer keeps its transaction open


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(fresh_postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _run_and_step() -> tuple[SpanRecord, SpanRecord]:
    trace = strip_run_ids(agent_trace(7, steps=3, with_markers=False))  # parent links only
    run = trace[-1]
    step = next(r for r in trace if r.parent_span_id == run.span_id)
    return run, step


def _hold_then_commit(engine: sa.Engine, first: SpanRecord, second: SpanRecord) -> None:
    """Write ``first`` in a transaction kept open while another writer writes ``second``."""
    holder, other = Materialiser(engine), Materialiser(engine)
    with engine.connect() as conn:
        transaction = conn.begin()
        holder._write(conn, [first])
        writer = threading.Thread(target=other.write, args=([second],))
        writer.start()
        writer.join(HELD_S)  # with the fix it waits for our commit; without, it is done already
        transaction.commit()
    writer.join(30)
    assert not writer.is_alive()


@pytest.mark.parametrize("step_first", [True, False], ids=["step-committed-first", "run-committed-first"])
def test_a_step_and_its_run_from_two_writers_are_linked(engine: sa.Engine, step_first: bool) -> None:
    run, step = _run_and_step()
    first, second = (step, run) if step_first else (run, step)
    _hold_then_commit(engine, first, second)
    with engine.connect() as conn:
        linked = conn.scalar(sa.select(M.steps.c.run_id).where(M.steps.c.span_id == step.span_id))
    assert linked == run.span_id
