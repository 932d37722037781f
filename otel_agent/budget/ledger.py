"""Open runs' budgets and what they have spent in this process.

A run with a budget (``budget_usd=`` or a matching rule) gets a ``RunBudget`` in its OpenTelemetry context,
linked to the budget of the enclosing run, so asyncio tasks and ``bind_context`` threads carry it. ``RUNS``
maps every open run id under a budget to its innermost budget; when an LLM span of that run ends, the
enriching processor calls ``spend`` and the cost is added up the chain, so nested runs count toward every
budget above them. Spend that ends after its run has closed is not counted (as in the run roll-up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from otel_agent.budget import daily
from otel_agent.budget.rules import MODES, BudgetRule, matching_limit, parse_mode, parse_rules

_log = logging.getLogger(__name__)
KEY = otel_context.create_key("otel_agent.budget")
MAX_OPEN_RUNS = 10_000  # past this many open budgeted runs, new ones get no budget (logged once)


@dataclass(eq=False, slots=True)
class RunBudget:
    run_id: str
    scope: str  # "run" for budget_usd=, else the rule's "project:books"
    limit_usd: float
    mode: str  # "stop" or "warn"
    parent: RunBudget | None
    spent_usd: float = 0.0
    warned: bool = False

    def chain(self) -> Iterator[RunBudget]:
        node: RunBudget | None = self
        while node is not None:
            yield node
            node = node.parent

    def first_over(self, worst_case_usd: float) -> RunBudget | None:
        """The innermost budget that is spent, or that this call's worst case would pass."""
        node: RunBudget | None = self  # a plain loop, not chain(): this runs before every call
        while node is not None:
            if node.spent_usd >= node.limit_usd or node.spent_usd + worst_case_usd > node.limit_usd:
                return node
            node = node.parent
        return None


@dataclass
class Config:
    rules: tuple[BudgetRule, ...] = ()
    mode: str = "stop"
    prices: Any = None  # a PriceBook; None until the enriching processor configures it (then made lazily)
    daily: daily.DailyBudgets | None = None  # project budgets per day, read from the store


CONFIG = Config()
RUNS: dict[str, RunBudget] = {}
_lock = threading.Lock()
_full_logged = False


def configure(settings: Any, prices: Any = None) -> None:
    """Take rules, mode and the price book from the enriching processor's settings (the last one wins)."""
    CONFIG.rules = parse_rules(getattr(settings, "budgets", "") or "")
    CONFIG.mode = parse_mode(getattr(settings, "budget_mode", "stop"))
    if prices is not None:
        CONFIG.prices = prices
    if CONFIG.daily is not None:
        CONFIG.daily.stop()
    CONFIG.daily = daily.from_settings(settings)
    if CONFIG.daily is not None:
        CONFIG.daily.start()


def enter_run(
    ctx: otel_context.Context,
    run_id: str,
    budget_usd: float | None,
    mode: str | None,
    attribution: Mapping[str, str],
) -> tuple[otel_context.Context, bool]:
    """The run's context (with its budget if it has one) and whether ``run_id`` was registered."""
    enclosing = otel_context.get_value(KEY, ctx)
    assert enclosing is None or isinstance(enclosing, RunBudget)
    limit = _limit(budget_usd, attribution)
    if limit is None:
        return ctx, enclosing is not None and _register(run_id, enclosing)
    node = RunBudget(run_id, limit[1], limit[0], mode or CONFIG.mode, enclosing)
    return otel_context.set_value(KEY, node, ctx), _register(run_id, node)


def _limit(budget_usd: float | None, attribution: Mapping[str, str]) -> tuple[float, str] | None:
    own = (float(budget_usd), "run") if budget_usd is not None else None
    ruled = matching_limit(CONFIG.rules, attribution) if CONFIG.rules else None
    if own is None or (ruled is not None and ruled[0] < own[0]):
        return ruled
    return own


def _register(run_id: str, node: RunBudget) -> bool:
    global _full_logged
    with _lock:
        if len(RUNS) >= MAX_OPEN_RUNS:
            if not _full_logged:
                _log.warning("otel-agent: %d budgeted runs open; new runs' spend is not counted", len(RUNS))
                _full_logged = True
            return False
        RUNS[run_id] = node
    return True


def exit_run(run_id: str) -> None:
    with _lock:
        RUNS.pop(run_id, None)


def spend(run_id: str, cost_usd: Any) -> None:
    """Add one finished call's cost to its run's budget and every budget above it."""
    node = RUNS.get(run_id)
    if node is None or not isinstance(cost_usd, (int, float)) or cost_usd <= 0:
        return
    with _lock:
        for each in node.chain():
            each.spent_usd += cost_usd


def wanted(parent: otel_context.Context, budget_usd: float | None) -> bool:
    """Whether a run starting in ``parent`` may have a budget (cheap: most runs have none)."""
    return budget_usd is not None or bool(CONFIG.rules) or otel_context.get_value(KEY, parent) is not None


def checked_arguments(budget_usd: Any, mode: str | None) -> tuple[float | None, str | None]:
    """``agent_run``'s budget arguments, or a ValueError that says what is wrong (a programming error)."""
    if budget_usd is not None:
        if isinstance(budget_usd, bool) or not isinstance(budget_usd, (int, float)) or not budget_usd >= 0:
            raise ValueError(f"budget_usd must be a non-negative number of USD, got {budget_usd!r}")
        budget_usd = float(budget_usd)
    if mode is not None and mode not in MODES:
        raise ValueError(f"budget_mode must be one of {', '.join(MODES)}, got {mode!r}")
    return budget_usd, mode
