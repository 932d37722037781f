"""Credits beside USD: a flat rate or per-model credit prices in the price file, on the span, the run's
roll-up and the store's steps and runs (SQLite and a real PostgreSQL, through a real migration)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import agent_run
from otel_agent import attributes as A
from otel_agent.credits import CreditBook, load_credit_prices
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.fakeprovider import FakeProvider, Usage
from otel_agent.metrics import MetricsSpanProcessor, names
from otel_agent.settings import Settings
from otel_agent.store.models import runs, steps
from tests.budget_support import budget_rig

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
COST = 0.006045  # gpt-4o at USAGE (FACTS.md)
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


def price_file(tmp_path: Path, **top: object) -> str:
    path = tmp_path / "prices.json"
    entries = [
        {"model": "gpt-4o-mini*", "input_mtok": 0.15, "output_mtok": 0.6},
        {"model": "claude-*", "credits_input_mtok": 300, "credits_output_mtok": 1500},  # credits only
        {"model": "bad", "credits_input_mtok": -1},
    ]
    path.write_text(json.dumps({**top, "prices": entries}))
    return str(path)


def test_credit_prices_from_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    per_usd, rates = load_credit_prices(price_file(tmp_path, credits_per_usd=100))
    assert per_usd == 100 and [r.model for r in rates] == ["claude-*"]
    assert "entry 2" in caplog.text
    book = CreditBook.from_settings(None, price_file(tmp_path, credits_per_usd=100))
    assert book is not None
    claude = {
        A.GEN_AI_REQUEST_MODEL: "claude-3-5-sonnet",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
        A.COST_USD: 1.0,
    }
    assert book.credits(claude) == pytest.approx(0.3 + 0.15)  # per-model prices beat the flat rate
    assert book.credits({A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.COST_USD: 0.5}) == 50
    assert CreditBook.from_settings(7, price_file(tmp_path, credits_per_usd=100)).per_usd == 7  # type: ignore[union-attr]
    assert CreditBook.from_settings(None, None) is None  # off: nothing is added


def test_bad_setting_is_logged_and_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert Settings.from_env({"OTEL_AGENT_CREDITS_PER_USD": "lots"}).credits_per_usd is None
    assert "OTEL_AGENT_CREDITS_PER_USD" in caplog.text
    assert Settings.from_env({"OTEL_AGENT_CREDITS_PER_USD": "250"}).credits_per_usd == 250


def run_and_store(fake: FakeProvider, url: str, tmp_path: Path) -> None:
    exporter = SqlSpanExporter(url, spool_dir=str(tmp_path / "spool"))
    with budget_rig(fake, extra=[SimpleSpanProcessor(exporter)], credits_per_usd=100.0) as r:
        with agent_run("book", project="books"):
            r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
            r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        [llm, _] = r.llm_spans()
        assert (llm.attributes or {})[A.COST_CREDITS] == pytest.approx(COST * 100)
        run = r.cap.one("invoke_workflow book")
        assert (run.attributes or {})[A.ROLLUP_COST_CREDITS] == pytest.approx(2 * COST * 100)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        step_credits = (
            conn.execute(sa.select(steps.c.cost_credits).where(steps.c.kind == "llm")).scalars().all()
        )
        run_row = conn.execute(sa.select(runs.c.cost_usd, runs.c.cost_credits)).one()
    engine.dispose()
    assert step_credits == [pytest.approx(COST * 100)] * 2
    assert run_row.cost_credits == pytest.approx(run_row.cost_usd * 100)


def test_credits_in_sqlite(fake: FakeProvider, tmp_path: Path) -> None:
    run_and_store(fake, f"sqlite:///{tmp_path / 'store.db'}", tmp_path)


@pytest.mark.postgres
def test_credits_in_postgresql(fake: FakeProvider, fresh_postgres_url: str, tmp_path: Path) -> None:
    run_and_store(fake, fresh_postgres_url, tmp_path)


def test_credits_metric_sums_the_calls(fake: FakeProvider) -> None:
    reader = InMemoryMetricReader()
    metrics = MetricsSpanProcessor(MeterProvider(metric_readers=[reader]))
    with budget_rig(fake, extra=[metrics], credits_per_usd=100.0) as r, agent_run("book", project="books"):
        r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    data = reader.get_metrics_data()
    points = [
        p
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == names.CREDITS.name
        for p in m.data.data_points
    ]
    assert [(p.attributes[A.PROJECT], p.value) for p in points] == [("books", pytest.approx(COST * 100))]
