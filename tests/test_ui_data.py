"""The web UI's own data: the waterfall's tree and geometry, the cost chart, and cost per day, which on
PostgreSQL reads the LLM-call roll-up for current days and must equal the calls themselves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from otel_agent.api.schemas import RunDetail, RunOut, StepOut
from otel_agent.api.ui import charts, cost_series, waterfall
from otel_agent.api.ui.formatting import duration, usd
from otel_agent.store import call_rollup
from otel_agent.store.models import runs, steps
from tests.api_fixtures import migrated_engine, run_row, step_row

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _run(run_id: str, seconds: float, parent: str | None = None, **extra: object) -> RunOut:
    base = {"trace_id": "t", "root_run_id": parent or run_id, "status": "succeeded", "parent_run_id": parent}
    fields = {"started_at": T0, "duration_ms": seconds * 1000, **base, **extra}
    return RunOut(run_id=run_id, **fields)  # type: ignore[arg-type]


def _step(span_id: str, parent: str, start_s: float, seconds: float, **extra: object) -> StepOut:
    start = T0 + timedelta(seconds=start_s)
    fields = {
        "kind": "llm",
        "status": "ok",
        "started_at": start,
        "ended_at": start + timedelta(seconds=seconds),
    }
    return StepOut(span_id=span_id, parent_span_id=parent, duration_ms=seconds * 1000, **{**fields, **extra})  # type: ignore[arg-type]


def test_the_waterfall_nests_steps_and_runs_in_time_order() -> None:
    child = RunDetail(
        run=_run("child", 2, parent="root", started_at=T0 + timedelta(seconds=6), name="invoke_agent critic"),
        steps=[_step("c1", "child", 6.5, 1, name="chat mini")],
        failures=[],
        child_run_ids=[],
    )
    root = RunDetail(
        run=_run("root", 10, name="invoke_workflow book", unpriced_calls=1),
        steps=[
            _step("s2", "root", 4, 1, name="execute_tool search", kind="tool", tool_name="search"),
            _step("s1", "root", 0, 2, name="chat gpt-4o", time_to_first_chunk_s=0.5, response_model="gpt-4o"),
            _step("s3", "s2", 4.5, 0.5, name="chat local", price_source="unpriced"),
        ],
        failures=[],
        child_run_ids=["child"],
    )
    built = waterfall.build(root, {"child": child}, T0 + timedelta(minutes=5))
    shape = [(r.depth, r.name) for r in built.rows]
    assert shape == [
        (0, "invoke_workflow book"),
        (1, "chat gpt-4o"),
        (1, "execute_tool search"),
        (2, "chat local"),  # under the tool that made it
        (1, "invoke_agent critic"),
        (2, "chat mini"),
    ]
    assert built.span_ms == 10_000
    first = built.rows[1]
    assert (first.offset_pct, first.width_pct, first.first_chunk_pct) == (0.0, 20.0, 5.0)
    assert built.rows[2].offset_pct == 40.0 and built.rows[3].unpriced and built.rows[0].unpriced
    assert built.rows[4].run_id == "child" and built.rows[0].run_id is None  # nested runs link to their page
    under_tool = waterfall.build(root, {"child": child}, T0, {"child": "s2"})  # started inside the tool
    assert [(r.depth, r.name) for r in under_tool.rows][2:] == [
        (1, "execute_tool search"),
        (2, "chat local"),
        (2, "invoke_agent critic"),
        (3, "chat mini"),
    ]


def test_the_chart_stacks_each_day_and_folds_small_groups_into_other() -> None:
    first = datetime(2026, 11, 1, tzinfo=timezone.utc)
    points = [cost_series.DailyCost(first, f"g{i}", float(i + 1)) for i in range(10)]
    points.append(cost_series.DailyCost(first + timedelta(days=2), "g9", 4.0))
    chart = charts.stacked_daily(points, first, 3)
    labels = [label for label, _ in chart.legend]
    assert len(labels) == len(charts.PALETTE) and labels[0] == "g9" and labels[-1] == charts.OTHER
    day_one = [b for b in chart.bars if b.title.startswith("2026-11-01")]
    assert round(sum(b.height for b in day_one), 1) == round(55 * (chart.baseline - charts.TOP) / 100, 1)
    assert chart.y_ticks[-1].label == "$100.00" and chart.total_usd == 59.0
    assert not [b for b in chart.bars if b.title.startswith("2026-11-02")]  # a day without cost stays empty


def test_formatting_reads_well() -> None:
    assert (usd(0.012345), usd(12.5), usd(None)) == ("$0.0123", "$12.50", "\u2014")
    assert (duration(850), duration(12_300), duration(252_000), duration(7_380_000)) == (
        "850 ms",
        "12.3 s",
        "4 min 12 s",
        "2 h 3 min",
    )


@pytest.mark.postgres
def test_cost_per_day_by_model_from_the_roll_up_equals_the_calls(fresh_postgres_url: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    now = datetime.now(timezone.utc)
    run_rows, step_rows = [], []
    for day in range(5):
        for n in range(3):
            run_id = f"{day:02x}{n:014x}"
            minutes = day * 1440 + n * 7 + 30
            run_rows.append(
                run_row(
                    run_id, "acme" if n else "default", minutes, updated_at=now - timedelta(minutes=minutes)
                )
            )
            for k, model in enumerate(("gpt-4o", "gpt-4o-mini", None)):
                step_rows.append(
                    step_row(
                        f"{day:02x}{n:012x}{k:02x}",
                        run_id,
                        minutes,
                        request_model=model,
                        cost_usd=0.01 * (k + 1) + day,
                    )
                )
    with engine.begin() as conn:
        conn.execute(sa.insert(runs), run_rows)
        conn.execute(sa.insert(steps), step_rows)
    first = cost_series.first_day(now, 7)
    before = _by_model(engine, "acme", first)
    built = call_rollup.refresh(engine, lookback_days=10, settle=timedelta(0))
    assert len(built.days) >= 4  # the past days are now read from the roll-up
    assert _by_model(engine, "acme", first) == before
    assert _by_model(engine, "default", first) != before  # each workspace its own
    with engine.begin() as conn:  # a past day written since it was built reads the calls again
        conn.execute(sa.update(steps).where(steps.c.span_id == step_rows[21]["span_id"]).values(cost_usd=9.0))
        conn.execute(sa.update(runs).where(runs.c.run_id == run_rows[7]["run_id"]).values(updated_at=now))
    changed = _by_model(engine, "acme", first)
    assert round(sum(changed.values()), 6) == round(sum(before.values()) + 9.0 - 2.01, 6)
    engine.dispose()


def _by_model(engine: sa.Engine, workspace: str, first: datetime) -> dict[tuple[datetime, str | None], float]:
    with engine.connect() as conn:
        points = cost_series.daily_cost(conn, workspace, "model", first)
    return {(p.day, p.group): round(p.cost_usd, 6) for p in points}
