"""Budgets with the real openai and anthropic SDKs (sync, async, streamed) against the fake provider:
a call that would overspend is refused before it is sent (the fake provider never receives it), with
otel_agent.BudgetExceeded, a failed span of category budget and a log event."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_agent import BudgetExceeded, agent_run, agent_step
from otel_agent import attributes as A
from otel_agent.exporters.sql import SqlSpanExporter
from otel_agent.fakeprovider import FakeProvider, Usage
from otel_agent.store.models import failures
from tests.budget_support import BudgetRig, budget_rig

USAGE = Usage(input_tokens=1234, output_tokens=321, cache_read_tokens=200)
COST = 0.006045  # gpt-4o at USAGE (FACTS.md)
MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-3-5-sonnet-20240620"  # $15 per million output tokens


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(usage=USAGE) as server:
        yield server


@pytest.fixture
def r(fake: FakeProvider) -> Iterator[BudgetRig]:
    with budget_rig(fake) as rig:
        yield rig


def chat(r: BudgetRig, **kwargs: object) -> object:
    return r.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, **kwargs)  # type: ignore[call-overload]


def test_spent_budget_refuses_the_next_call_before_it_is_sent(r: BudgetRig) -> None:
    with pytest.raises(BudgetExceeded) as raised, agent_run("book", project="books", budget_usd=0.01):
        chat(r)  # $0.006 spent
        chat(r)  # no max_tokens: worst case 0, still under; $0.012 spent
        assert r.sent() == 2
        chat(r)
    assert r.sent() == 2  # the third request never reached the provider
    exc = raised.value
    assert (exc.scope, exc.limit_usd, exc.model) == ("run", 0.01, "gpt-4o")
    assert exc.spent_usd == pytest.approx(2 * COST)
    assert "spent" in str(exc) and "gpt-4o" in str(exc)
    [refused] = r.refused_spans()
    attrs = dict(refused.attributes or {})
    assert refused.name == "chat gpt-4o"
    assert attrs[A.ERROR_TYPE] == "BudgetExceeded"
    assert refused.status.is_ok is False
    run = r.cap.one("invoke_workflow book")
    assert (run.attributes or {})[A.ERROR_CATEGORY] == "budget"  # the run failed of it too


def test_worst_case_from_max_tokens_refuses_a_call_that_could_pass(r: BudgetRig) -> None:
    with agent_run("book", budget_usd=0.01):
        chat(r, max_tokens=1000)  # worst case 1000 x $10/M = $0.01: not past the limit, sent
        with pytest.raises(BudgetExceeded) as raised:
            chat(r, max_completion_tokens=500)  # $0.006 spent + $0.005 > $0.01
    assert r.sent() == 1
    assert raised.value.worst_case_usd == pytest.approx(0.005)


def test_sdk_retries_do_not_swallow_or_retry_the_refusal(r: BudgetRig) -> None:
    client = r.openai(max_retries=3)
    with agent_run("book", budget_usd=0.0), pytest.raises(BudgetExceeded):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert r.sent() == 0
    assert len(r.refused_spans()) == 1  # refused once, not once per retry


def test_openai_stream_refused(r: BudgetRig) -> None:
    with agent_run("book", budget_usd=0.001):
        for _ in chat(r, stream=True, stream_options={"include_usage": True}):  # type: ignore[attr-defined]
            pass
        with pytest.raises(BudgetExceeded):
            chat(r, stream=True)
    assert r.sent() == 1


async def test_openai_async_and_async_stream_refused(r: BudgetRig) -> None:
    client = r.async_openai()
    async with agent_run("book", budget_usd=0.001):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with pytest.raises(BudgetExceeded):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with pytest.raises(BudgetExceeded):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert r.sent() == 1
    assert len(r.refused_spans()) == 2


def test_anthropic_sync_and_stream_refused_by_max_tokens(r: BudgetRig) -> None:
    client = r.anthropic()
    with agent_run("book", budget_usd=0.02):
        client.messages.create(model=CLAUDE, max_tokens=1000, messages=MESSAGES)  # worst $0.015: sent
        with pytest.raises(BudgetExceeded) as raised:
            client.messages.create(model=CLAUDE, max_tokens=1000, messages=MESSAGES)
        with (
            pytest.raises(BudgetExceeded),
            client.messages.stream(model=CLAUDE, max_tokens=1000, messages=MESSAGES),
        ):
            pass
    assert r.sent() == 1
    assert raised.value.worst_case_usd == pytest.approx(0.015)
    assert [dict(s.attributes or {})[A.GEN_AI_PROVIDER_NAME] for s in r.refused_spans()] == ["anthropic"] * 2


async def test_anthropic_async_stream_refused(r: BudgetRig) -> None:
    client = r.async_anthropic()
    async with agent_run("book", budget_usd=0.01):
        with pytest.raises(BudgetExceeded):
            await client.messages.create(model=CLAUDE, max_tokens=1000, messages=MESSAGES, stream=True)
    assert r.sent() == 0


def test_nested_runs_count_toward_the_enclosing_budget(r: BudgetRig) -> None:
    with agent_run("book", budget_usd=0.01):
        with agent_step(agent="writer"):  # a nested run without a budget of its own
            chat(r)
            chat(r)
        with agent_run("inner", budget_usd=1.0), pytest.raises(BudgetExceeded) as raised:
            chat(r)  # the inner budget is far off; the outer one is spent
    assert r.sent() == 2
    assert raised.value.scope == "run" and raised.value.limit_usd == 0.01


def test_warn_mode_logs_once_and_sends(r: BudgetRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="otel_agent.runs")
    with agent_run("book", budget_usd=0.001, budget_mode="warn"):
        for _ in range(3):
            chat(r)
    assert r.sent() == 3
    warned = [
        rec for rec in caplog.records if getattr(rec, A.EVENT_NAME, None) == "otel_agent.budget.exceeded"
    ]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert r.refused_spans() == []


def test_refusal_logs_an_error_event(r: BudgetRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="otel_agent.runs")
    with agent_run("book", project="books", budget_usd=0.0), pytest.raises(BudgetExceeded):
        chat(r)
    [event] = [
        rec for rec in caplog.records if getattr(rec, A.EVENT_NAME, None) == "otel_agent.budget.exceeded"
    ]
    assert event.levelno == logging.ERROR
    assert getattr(event, "otel_agent.budget.limit_usd") == 0.0
    assert "gpt-4o" in event.getMessage()


def test_rules_from_settings_match_inherited_project_and_stage(fake: FakeProvider) -> None:
    with budget_rig(fake, budgets="project:books=0.001,stage:draft=5,bad-entry") as r:
        # The writer inherits project books: both rules apply to it and $0.001 wins.
        with agent_run("book", project="books"), agent_step(agent="writer", stage="draft"):
            chat(r)
            with pytest.raises(BudgetExceeded) as raised:
                chat(r)
        with agent_run("other", project="films"):
            chat(r)
            chat(r)
    assert raised.value.scope == "project:books"
    assert r.sent() == 3


def test_no_budget_changes_nothing(r: BudgetRig) -> None:
    with agent_run("book"):
        for _ in range(3):
            chat(r, max_tokens=100_000)
    assert r.sent() == 3 and r.refused_spans() == []


def test_bad_budget_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="budget_usd"):
        agent_run("book", budget_usd=-1)
    with pytest.raises(ValueError, match="budget_mode"):
        agent_run("book", budget_usd=1, budget_mode="halt")


def test_budget_exceeded_is_not_an_exception_subclass() -> None:
    # SDKs retry and wrap Exception raised from the transport; a budget stop must pass through them.
    assert not issubclass(BudgetExceeded, Exception)
    assert issubclass(openai.APIConnectionError, Exception)


def test_refusal_is_a_failure_row_of_category_budget(fake: FakeProvider, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    exporter = SqlSpanExporter(url, spool_dir=str(tmp_path / "spool"))
    rig = budget_rig(fake, extra=[SimpleSpanProcessor(exporter)])
    with rig as r, pytest.raises(BudgetExceeded), agent_run("book", project="books", budget_usd=0.0):
        chat(r)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(failures).order_by(failures.c.source)).all()
    engine.dispose()
    assert [(row.source, row.error_category) for row in rows] == [("run", "budget"), ("step", "budget")]
    step = next(row for row in rows if row.source == "step")
    assert step.error_type == "BudgetExceeded" and "refused" in (step.message or "")
