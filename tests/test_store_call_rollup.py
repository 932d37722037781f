"""The LLM-call roll-up (otel_agent.store.call_rollup / call_report) on a real PostgreSQL: the report by
model or provider read through it equals the report computed from every call (the CLI's Python
aggregation), however the data moved since the roll-up was built."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_agent import attributes as A
from otel_agent.api.queries.report import WorkspaceRunFilter
from otel_agent.cli import main
from otel_agent.settings import Settings
from otel_agent.store import Materialiser, call_report, call_rollup, make_engine, queries, upgrade
from otel_agent.store import models as M
from otel_agent.store.report import aggregate, usage_report
from tests.clock import fixed_now, midnight
from tests.test_store_traces import T0, agent_trace

pytestmark = pytest.mark.postgres

NOW = fixed_now()  # the roll-up is by UTC hour and day: the same time of day whenever the tests run
MODELS = [None, "gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]
BY = ("model", "provider")


@pytest.fixture
def engine(fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setattr(call_rollup, "MARK_EVERY", 3)  # small days still get marks and slices
    engine = make_engine(fresh_postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _store_random(
    engine: sa.Engine, seed: int, runs: int = 150, days: float = 5, until: datetime = NOW
) -> None:
    """Runs over the ``days`` before ``until`` in three workspaces (one unset), with LLM and tool steps whose
    model, provider, duration and cost are sometimes missing, and durations that tie."""
    rng = random.Random(seed)
    run_rows, step_rows = [], []
    for i in range(runs):
        run_id, started = f"{seed:04x}{i:012x}", until - timedelta(days=rng.uniform(0, days))
        run_rows.append(
            {
                "run_id": run_id, "trace_id": run_id * 2, "root_run_id": run_id, "user_id": f"u{i % 4}",
                "status": rng.choice(["running", "succeeded", "succeeded", "failed", "stalled"]),
                "workspace": rng.choice([None, "default", "acme"]), "started_at": started,
                "updated_at": started + timedelta(minutes=1),
            }
        )  # fmt: skip
        for j in range(rng.randint(0, 14)):
            model = rng.choice(MODELS)
            step_rows.append(
                {
                    "span_id": f"{run_id[:8]}{i:04x}{j:04x}", "trace_id": run_id * 2, "run_id": run_id,
                    "kind": rng.choice(["llm"] * 5 + ["tool"]), "status": "ok",
                    "provider": rng.choice([None, "openai", "azure"]), "request_model": model,
                    "response_model": rng.choice([None, model]),
                    "duration_ms": rng.choice([None, float(rng.randint(1, 40)), rng.uniform(1, 900)]),
                    "input_tokens": rng.randint(0, 5000), "output_tokens": rng.randint(0, 900),
                    "cost_usd": rng.choice([None, rng.uniform(0, 0.02)]),
                }
            )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(M.runs.insert(), run_rows)
        conn.execute(M.steps.insert(), step_rows)


def _filters(since: datetime) -> list[queries.RunFilter]:
    return [
        WorkspaceRunFilter(workspace="default", since=since),  # the API's: unset counts as "default"
        WorkspaceRunFilter(workspace="acme", since=since),
        queries.RunFilter(since=since),  # the CLI's: every workspace
        queries.RunFilter(workspace="acme", since=since),
    ]


def _reference(conn: sa.Connection, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
    """The report from every call, aggregated in Python (the SQLite path)."""
    return aggregate(queries.report_calls(conn, where), queries.report_grouping(by).key, "calls")


def _assert_same(engine: sa.Engine, where: queries.RunFilter, by: str) -> list[dict[str, Any]]:
    with engine.begin() as conn:
        ours, expected = usage_report(conn, where, by), _reference(conn, where, by)
    assert [g["group"] for g in ours] == [g["group"] for g in expected]
    for mine, theirs in zip(ours, expected, strict=True):
        # Float sums differ in the last bits with their order; the report rounds to 1e-6 USD.
        assert mine.pop("cost_usd") == pytest.approx(theirs.pop("cost_usd"), abs=2e-6)
        assert mine == theirs
    return ours


def _stored(engine: sa.Engine, period: str) -> set[datetime]:
    p = M.call_rollup_periods.c
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(p.starts_at).where(p.period == period).distinct()))


def _days_ago(*days: int, now: datetime = NOW) -> set[datetime]:
    today = call_rollup.day_of(now)
    return {today - timedelta(days=n) for n in days}


def _wall_clock_past() -> datetime:
    """For code that reads the database's clock: data before this lies in whole days, over and settled
    (yesterday's midnight: at 00:05, yesterday is over but not yet settled)."""
    return midnight(datetime.now(timezone.utc)) - timedelta(days=1)


def _build_all(engine: sa.Engine) -> call_rollup.Refreshed:
    return call_rollup.refresh(engine, lookback_days=10, settle=timedelta(0), now=NOW)


@pytest.mark.parametrize("seed", range(3))
def test_the_report_through_the_rollup_equals_every_call(engine: sa.Engine, seed: int) -> None:
    _store_random(engine, seed)
    built = _build_all(engine)
    assert set(built.days) == _days_ago(*range(1, 6))  # every day that is over, whole
    assert built.hours and all(h >= call_rollup.day_of(NOW) for h in built.hours)  # and today's past hours
    assert _build_all(engine) == call_rollup.Refreshed()  # nothing changed
    since = NOW - timedelta(days=3.5)  # the first day is partly in the window
    honest = {
        (i, by): _assert_same(engine, where, by) for i, where in enumerate(_filters(since)) for by in BY
    }
    with engine.begin() as conn:  # stored days that lie: every report shows it, so each read them
        conn.execute(M.call_rollups.update().values(calls=M.call_rollups.c.calls + 1000))
        for i, where in enumerate(_filters(since)):
            for by in BY:
                lied = usage_report(conn, where, by)
                assert sum(g["calls"] for g in lied) > sum(g["calls"] for g in honest[(i, by)])


def test_stored_days_are_read_until_their_runs_change(engine: sa.Engine) -> None:
    _store_random(engine, 7)
    _build_all(engine)
    (day,) = _days_ago(2)
    where = queries.RunFilter(since=NOW - timedelta(days=4))
    honest = _assert_same(engine, where, "provider")
    with engine.begin() as conn:  # a stored day that lies: the report shows it, so it was read
        # The day's rows only: its first hour starts at the same instant, and after the write below the
        # hours the write did not touch are rightly read from their (honest) stored rows.
        rollup = M.call_rollups.c
        conn.execute(
            M.call_rollups.update()
            .where(rollup.starts_at == day, rollup.period == "day", rollup.grouping == "provider")
            .values(input_tokens=M.call_rollups.c.input_tokens + 1_000_000)
        )
        lied = usage_report(conn, where, "provider")
    assert sum(g["input_tokens"] for g in lied) > sum(g["input_tokens"] for g in honest)
    with engine.begin() as conn:  # any write to one of the day's runs: the day is read raw again
        in_day = call_rollup.started_within([day], call_rollup.DAY)
        first = sa.select(M.runs.c.run_id).where(in_day).limit(1).scalar_subquery()
        conn.execute(M.runs.update().where(M.runs.c.run_id == first).values(updated_at=sa.func.now()))
    _assert_same(engine, where, "provider")
    assert _build_all(engine).days == [day]
    assert _assert_same(engine, where, "provider") == honest


def test_purged_runs_leave_the_report_at_once(engine: sa.Engine) -> None:
    _store_random(engine, 11)
    _build_all(engine)
    with engine.begin() as conn:
        queries.purge(conn, user_id="u1")
    for where in _filters(NOW - timedelta(days=6)):
        _assert_same(engine, where, "model")


def _shifted(records: list[Any], to: datetime) -> list[Any]:
    offset = int(to.timestamp() * 1e9) - T0
    return [
        dataclasses.replace(
            r,
            start_time_unix_nano=r.start_time_unix_nano + offset,
            end_time_unix_nano=r.end_time_unix_nano + offset,
        )
        for r in records
    ]


def test_a_late_call_is_counted_before_and_after_its_day_is_rebuilt(engine: sa.Engine) -> None:
    day = NOW - timedelta(days=3)
    records = _shifted([r for s in range(1, 6) for r in agent_trace(s, steps=12, with_markers=False)], day)
    late = next(r for r in records if r.attributes.get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT)
    store = Materialiser(engine)
    store.write([r for r in records if r is not late])
    assert _build_all(engine).days == [call_rollup.day_of(day)]
    where = WorkspaceRunFilter(workspace="acme", since=NOW - timedelta(days=5))
    before = _assert_same(engine, where, "model")
    store.write([late])  # its run's totals are recomputed, which marks the run (and its day) as changed
    after = _assert_same(engine, where, "model")
    assert sum(g["calls"] for g in after) == sum(g["calls"] for g in before) + 1
    assert _build_all(engine).days == [call_rollup.day_of(day)]
    assert _assert_same(engine, where, "model") == after


def test_only_settled_past_days_are_built_and_the_sweep_builds_them(engine: sa.Engine) -> None:
    _store_random(engine, 3, days=4)
    (yesterday,) = _days_ago(1)
    with engine.begin() as conn:  # yesterday's runs were written a minute ago: not settled yet
        conn.execute(M.runs.update().values(status="succeeded"))  # no stalls for the sweep to mark
        in_yesterday = call_rollup.started_within([yesterday], call_rollup.DAY)
        conn.execute(M.runs.update().where(in_yesterday).values(updated_at=NOW - timedelta(minutes=1)))
    built = call_rollup.refresh(engine, lookback_days=10, now=NOW)
    assert set(built.days) == _days_ago(2, 3, 4)  # not yesterday, not today
    assert not [h for h in built.hours if call_rollup.day_of(h) == yesterday]  # nor its hours
    # today's: over by the settling time (10 minutes)
    assert built.hours and all(h + timedelta(minutes=70) <= NOW for h in built.hours)
    assert call_rollup.refresh(engine, lookback_days=10, now=NOW) == call_rollup.Refreshed()
    with engine.begin() as conn:
        conn.execute(M.call_rollup_periods.delete())
    Materialiser(engine).sweep(now=NOW)
    assert len(_stored(engine, "day")) == min(call_rollup.SWEEP_MAX_PERIODS, 3)


def test_sqlite_has_nothing_to_build(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/store.db")
    upgrade(engine)
    assert call_rollup.refresh(engine) == call_rollup.Refreshed()


def test_the_cli_rebuilds_every_changed_day(
    engine: sa.Engine, fresh_postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    today = _wall_clock_past()
    _store_random(engine, 5, days=8, until=today - timedelta(microseconds=1))
    with engine.begin() as conn:
        conn.execute(M.runs.update().values(updated_at=M.runs.c.started_at))  # written long ago: settled
    assert main(["db", "rollup", "--database-url", fresh_postgres_url, "--days", "10"]) == 0
    assert "rebuilt 8 day(s)" in capsys.readouterr().out
    assert _stored(engine, "day") == _days_ago(*range(1, 9), now=today)


def test_a_period_rebuilt_during_a_report_falls_back_to_every_call(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_random(engine, 13)
    _build_all(engine)
    read_slices = call_report._read_slices

    def rebuilt_first(conn: sa.Connection, wanted: set[tuple[int, int, int]]) -> Any:
        # What another process's rebuild does between the report's reads: same figures, new row ids.
        conn.execute(M.call_rollups.update().values(id=M.call_rollups.c.id + 1_000_000))
        return read_slices(conn, wanted)

    monkeypatch.setattr(call_report, "_read_slices", rebuilt_first)
    _assert_same(engine, queries.RunFilter(since=NOW - timedelta(days=4)), "model")


def test_the_sql_exporter_builds_it_off_its_export_thread(
    engine: sa.Engine, fresh_postgres_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_agent.exporters.sql import SqlSpanExporter

    _store_random(engine, 17, days=3, until=_wall_clock_past() - timedelta(microseconds=1))  # its own clock
    with engine.begin() as conn:
        conn.execute(M.runs.update().values(status="succeeded"))  # no stalls for the sweep to mark
    release, entered = threading.Event(), threading.Event()
    refresh = call_rollup.refresh

    def held_refresh(*args: Any, **kwargs: Any) -> call_rollup.Refreshed:
        entered.set()
        assert release.wait(30), "the test never released the roll-up pass"
        return refresh(*args, **kwargs)

    monkeypatch.setattr(call_rollup, "refresh", held_refresh)
    sql = SqlSpanExporter(fresh_postgres_url, spool_dir=tmp_path / "spool", settings=Settings())
    assert sql.export([]) == SpanExportResult.SUCCESS  # returned while the pass it started is held
    assert entered.wait(30) and not _stored(engine, "day")
    assert sql._rollup is not None and not sql._rollup.start()  # one pass at a time
    release.set()
    assert sql._rollup.thread is not None
    sql._rollup.thread.join(30)
    assert len(_stored(engine, "day")) == min(call_rollup.SWEEP_MAX_PERIODS, 3)
    sql.shutdown()
