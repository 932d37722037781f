"""Budget pieces without HTTP: finding a request's output cap, parsing rules, the ledger's chain."""

from __future__ import annotations

import json
import logging
import pickle

import pytest

from otel_agent import BudgetExceeded
from otel_agent.budget.check import output_cap
from otel_agent.budget.ledger import RunBudget
from otel_agent.budget.rules import BudgetRule, matching_limit, parse_mode, parse_rules

PROMPT = [{"role": "user", "content": "Say hello " * 500}]


@pytest.mark.parametrize(
    ("body", "provider", "cap"),
    [
        ({"max_tokens": 77, "messages": PROMPT, "model": "claude"}, "anthropic", 77),  # anthropic's order
        ({"messages": PROMPT, "model": "gpt-4o", "max_tokens": 512, "top_p": 1}, "openai", 512),
        ({"messages": PROMPT, "max_completion_tokens": 9, "max_retries": 2}, "openai", 9),
        ({"input": "hi", "max_output_tokens": 33}, "openai", 33),
        ({"contents": [], "generationConfig": {"maxOutputTokens": 12}}, "gcp.gemini", 12),
        ({"messages": PROMPT, "model": "gpt-4o"}, "openai", 0),
        # a tool schema's property named max_tokens is an object, not the cap
        ({"messages": [], "tools": [{"properties": {"max_tokens": {"type": "integer"}}}]}, "openai", 0),
        ({"messages": [{"role": "user", "content": '"max_tokens": 99'}]}, "openai", 0),  # inside a string
    ],
)
def test_output_cap(body: dict[str, object], provider: str, cap: int) -> None:
    assert output_cap(json.dumps(body).encode(), provider) == cap


def test_output_cap_of_odd_bodies() -> None:
    assert output_cap(None, "openai") == 0
    assert output_cap(b"", "openai") == 0
    assert output_cap(b"\xff\xfe not json", "openai") == 0
    assert output_cap(b'{"max_tokens": -5}', "anthropic") == 0


def test_rules_parse_and_bad_entries_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    rules = parse_rules(
        "project:books=5, stage:draft=0.5,workflow:a:b=2,team:x=1,project:y=-1,project:z=lots,"
    )
    assert rules == (
        BudgetRule("project", "books", 5.0),
        BudgetRule("stage", "draft", 0.5),
        BudgetRule("workflow", "a:b", 2.0),
    )
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 3
    assert parse_mode("WARN") == "warn" and parse_mode("halt") == "stop" and parse_mode(None) == "stop"


def test_the_smallest_matching_rule_wins() -> None:
    rules = parse_rules("project:books=5,stage:draft=0.5,workflow:nightly=2")
    attribution = {"otel_agent.project": "books", "otel_agent.stage": "draft"}
    assert matching_limit(rules, attribution) == (0.5, "stage:draft")
    assert matching_limit(rules, {"otel_agent.project": "films"}) is None


def test_every_enclosing_budget_is_checked() -> None:
    outer = RunBudget("a" * 16, "run", 1.0, "stop", None, spent_usd=0.9)
    inner = RunBudget("b" * 16, "run", 10.0, "stop", outer)
    assert inner.first_over(0.05) is None
    assert inner.first_over(0.2) is outer
    outer.spent_usd = 1.0
    assert inner.first_over(0.0) is outer  # spent: even a call with no cap is refused


def test_budget_exceeded_survives_pickling() -> None:
    exc = BudgetExceeded(scope="run", limit_usd=1, spent_usd=2, worst_case_usd=0, model="gpt-4o", run_id="r")
    again = pickle.loads(pickle.dumps(exc))
    assert (again.scope, again.spent_usd, str(again)) == ("run", 2, str(exc))
