"""A project's budget per day across processes: another worker process spends and writes to the shared
store (SQLite, and a real PostgreSQL); this process reads the day's spend and refuses the next call of that
project before it is sent (the fake provider never receives it), while other projects go on."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agent import BudgetExceeded, agent_run
from otel_agent.budget import ledger
from otel_agent.budget.daily import parse_daily
from otel_agent.fakeprovider import FakeProvider, Usage
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import upgrade
from tests.budget_support import BudgetRig, budget_rig

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
COST = 0.006045
MESSAGES = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


def other_worker(fake: FakeProvider, url: str, project: str, calls: int) -> None:
    args = [sys.executable, "-m", "tests.budget_worker", fake.url, url, project, str(calls)]
    subprocess.run(args, cwd=ROOT, check=True, timeout=120)


def read_once(r: BudgetRig) -> None:
    daily = ledger.CONFIG.daily
    assert daily is not None
    before = daily.reads
    for _ in range(200):  # the refresh thread reads every 0.05 s here; bounded wait
        if daily.reads > before:
            return
        time.sleep(0.05)
    raise AssertionError("the store was never read")


def spend_elsewhere_then_refuse(fake: FakeProvider, url: str) -> None:
    other_worker(fake, url, "books", 2)  # $0.012 of the day's $0.01, spent in another process
    with budget_rig(
        fake, daily_budgets="books=0.01,films=1", database_url=url, daily_budget_refresh_s=0.05
    ) as r:
        read_once(r)
        fake.requests.clear()
        with pytest.raises(BudgetExceeded) as raised, agent_run("book", project="books"):
            r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert r.sent() == 0
        assert raised.value.scope == "project-day:books"
        assert raised.value.spent_usd == pytest.approx(2 * COST)
        with agent_run("film", project="films"):
            r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert r.sent() == 1
        assert len(r.refused_spans()) == 1
        daily = ledger.CONFIG.daily
        assert daily is not None  # the gauges behind the 80% alert (deploy/prometheus)
        spent = {o.attributes["otel_agent.project"]: o.value for o in daily._observe_spent(None)}
        limits = {o.attributes["otel_agent.project"]: o.value for o in daily._observe_limits(None)}
        assert spent == {"books": pytest.approx(2 * COST), "films": 0.0}
        assert limits == {"books": 0.01, "films": 1.0}


def test_daily_budget_across_processes_sqlite(fake: FakeProvider, tmp_path: Path) -> None:
    spend_elsewhere_then_refuse(fake, f"sqlite:///{tmp_path / 'store.db'}")


@pytest.mark.postgres
def test_daily_budget_across_processes_postgresql(fake: FakeProvider, fresh_postgres_url: str) -> None:
    spend_elsewhere_then_refuse(fake, fresh_postgres_url)


def test_worst_case_counts_against_the_day(fake: FakeProvider, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with budget_rig(fake, daily_budgets="books=0.01", database_url=url, daily_budget_refresh_s=0.05) as r:
        read_once(r)
        with agent_run("book", project="books"):
            r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=500)  # $0.005
            with pytest.raises(BudgetExceeded):  # the store shows $0 spent, but 2000 tokens could cost $0.02
                r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=2000)
    assert r.sent() == 1


def test_unreadable_store_refuses_nothing(fake: FakeProvider, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'no-tables.db'}"  # no migration ran: the query fails
    rig = budget_rig(fake, daily_budgets="books=0", database_url=url, daily_budget_refresh_s=0.05)
    with rig as r, agent_run("book", project="books"):
        r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert r.sent() == 1


def test_parse_daily() -> None:
    assert parse_daily("books=50, films=0.5,bad,=3,x=-1,") == {"books": 50.0, "films": 0.5}
