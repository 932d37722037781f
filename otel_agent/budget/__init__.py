"""Budgets: refuse an LLM request before it is sent when the run it belongs to would overspend.

    with agent_run("book", project="books", budget_usd=2.00):
        ...                      # an LLM call that would pass $2.00 raises otel_agent.BudgetExceeded

Rules from settings (``OTEL_AGENT_BUDGETS=project:books=5,stage:draft=0.5``) give matching runs a budget
too. See docs/budgets.md. The pieces: ``errors`` (the one exception), ``rules`` (parsing the settings),
``ledger`` (open runs' budgets and spend), ``check`` (the test before each request, and the refusal record).
"""

from otel_agent.budget.errors import BudgetExceeded

__all__ = ["BudgetExceeded"]
