"""A budget per project per UTC day, across processes, read from the store.

``OTEL_AGENT_DAILY_BUDGETS=books=50,films=10`` (USD). Workers that each run part of a project share one
store (PostgreSQL in production); a background thread sums each budgeted project's runs started today
(``otel_runs.cost_usd``, indexed by project and start) every ``OTEL_AGENT_DAILY_BUDGET_REFRESH`` seconds
(5 by default), and the check before each LLM call reads the last sum, so it never waits on the database.

What that means: spend shows up once its spans are exported and the next refresh has read it (the SQL
exporter's batch delay plus the refresh, about 10 s by default), so a burst can pass the limit by what it
spends in that window; until the first read (or while the store cannot be read, logged) nothing is refused.
A run is counted on the day it started.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from opentelemetry import metrics
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import Observation

from otel_agent import attributes as A
from otel_agent.guard import guard, record_failure

_log = logging.getLogger(__name__)


def parse_daily(raw: str, name: str = "OTEL_AGENT_DAILY_BUDGETS") -> dict[str, float]:
    limits: dict[str, float] = {}
    for entry in (part.strip() for part in raw.split(",")):
        project, _, usd = entry.rpartition("=")
        if not entry:
            continue
        try:
            limit = float(usd)
        except ValueError:
            limit = -1.0
        if not project.strip() or not limit >= 0:
            _log.warning("%s: entry %r skipped: expected PROJECT=USD", name, entry)
            continue
        limits[project.strip()] = limit
    return limits


def today_utc() -> datetime:
    return datetime.now(tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


class DailyBudgets:
    """Today's spend per budgeted project, refreshed from the store by a daemon thread."""

    def __init__(self, limits: dict[str, float], database_url: str | None, refresh_s: float = 5.0) -> None:
        self.limits = limits
        self.spent: dict[str, float] = {}  # the last sums read; a project missing has not been read yet
        self.warned: set[str] = set()  # mode warn: scopes already logged (once per process)
        self._url = database_url
        self._refresh_s = max(refresh_s, 0.05)
        self._engine: sa.Engine | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reads = 0

    def start(self) -> None:
        with guard("budget.daily_gauges"):
            self._register_gauges()
        self._thread = threading.Thread(target=self._loop, name="otel-agent-daily-budgets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._engine is not None:
            self._engine.dispose()

    def _register_gauges(self) -> None:
        """Today's spend and limit per project, for the 80% alert (deploy/prometheus; docs/budgets.md).
        Through the global MeterProvider: a no-op until the application sets one."""
        meter = metrics.get_meter("otel_agent.budget")
        meter.create_observable_gauge(
            "otel_agent.budget.daily_spent_usd", [self._observe_spent], "{USD}", "Project's spend today (UTC)"
        )
        meter.create_observable_gauge(
            "otel_agent.budget.daily_limit_usd", [self._observe_limits], "{USD}", "Project's daily budget"
        )

    def _observe_spent(self, _options: Any) -> list[Observation]:
        if self._stop.is_set():  # replaced by a new configuration: its gauges report instead
            return []
        return [Observation(usd, {A.PROJECT: project}) for project, usd in self.spent.items()]

    def _observe_limits(self, _options: Any) -> list[Observation]:
        if self._stop.is_set():
            return []
        return [Observation(usd, {A.PROJECT: project}) for project, usd in self.limits.items()]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # counted and logged (rate-limited); the last sums stay in use
                record_failure("budget.daily_refresh", exc)
            self._stop.wait(self._refresh_s)

    def refresh(self) -> None:
        """Read today's spend of every budgeted project (one query)."""
        from otel_agent.store.engine import make_engine
        from otel_agent.store.models import runs

        if self._engine is None:
            self._engine = make_engine(self._url, for_writing=False)
        r = runs.c
        query = (
            sa.select(r.project, sa.func.coalesce(sa.func.sum(r.cost_usd), 0.0))
            .where(r.project.in_(list(self.limits)), r.started_at >= today_utc())
            .group_by(r.project)
        )
        with suppress_instrumentation(), self._engine.connect() as conn:
            found = {project: float(total) for project, total in conn.execute(query)}
        self.spent = {project: found.get(project, 0.0) for project in self.limits}
        self.reads += 1

    def over(self, project: str, worst_case_usd: float) -> tuple[float, float] | None:
        """(limit, spent) when ``project`` has spent its day's budget or this call could pass it."""
        limit = self.limits.get(project)
        spent = self.spent.get(project)
        if limit is None or spent is None:
            return None
        if spent >= limit or spent + worst_case_usd > limit:
            return limit, spent
        return None


def from_settings(settings: Any) -> DailyBudgets | None:
    limits = parse_daily(getattr(settings, "daily_budgets", "") or "")
    if not limits:
        return None
    refresh_s = float(getattr(settings, "daily_budget_refresh_s", 5.0))
    return DailyBudgets(limits, getattr(settings, "database_url", None), refresh_s)
