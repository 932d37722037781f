"""Budget rules from settings: ``OTEL_AGENT_BUDGETS=project:books=5,stage:draft=0.5,workflow:nightly=2``.

Each entry gives every run whose project / stage / workflow (its own or inherited from the enclosing run)
matches a budget of that many USD; when several match, the smallest applies. A bad entry is logged and
skipped, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from otel_agent import attributes as A

_log = logging.getLogger(__name__)

FIELDS = {"project": A.PROJECT, "stage": A.STAGE, "workflow": A.GEN_AI_WORKFLOW_NAME}
MODES = ("stop", "warn")


@dataclass(frozen=True, slots=True)
class BudgetRule:
    field: str  # "project", "stage" or "workflow"
    value: str
    limit_usd: float

    @property
    def scope(self) -> str:
        return f"{self.field}:{self.value}"


def parse_rules(raw: str, name: str = "OTEL_AGENT_BUDGETS") -> tuple[BudgetRule, ...]:
    rules = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            rules.append(_parse_entry(entry))
        except ValueError as exc:
            _log.warning("%s: entry %r skipped: %s", name, entry, exc)
    return tuple(rules)


def _parse_entry(entry: str) -> BudgetRule:
    key, _, usd = entry.rpartition("=")
    field, _, value = key.partition(":")
    field = field.strip().lower()
    if field not in FIELDS or not value.strip():
        raise ValueError("expected project:NAME=USD, stage:NAME=USD or workflow:NAME=USD")
    try:
        limit = float(usd)
    except ValueError:
        raise ValueError(f"{usd!r} is not a number of USD") from None
    if not limit >= 0:  # also rejects NaN
        raise ValueError("a budget cannot be negative")
    return BudgetRule(field, value.strip(), limit)


def parse_mode(raw: str | None, name: str = "OTEL_AGENT_BUDGET_MODE") -> str:
    mode = (raw or "stop").strip().lower()
    if mode in MODES:
        return mode
    _log.warning("%s=%r is not stop or warn; using stop", name, raw)
    return "stop"


def matching_limit(rules: tuple[BudgetRule, ...], attribution: Mapping[str, str]) -> tuple[float, str] | None:
    """The smallest limit among the rules that match, with its rule's scope; None if none match."""
    best: tuple[float, str] | None = None
    for rule in rules:
        if attribution.get(FIELDS[rule.field]) == rule.value and (best is None or rule.limit_usd < best[0]):
            best = (rule.limit_usd, rule.scope)
    return best
