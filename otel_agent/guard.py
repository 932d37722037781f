"""Fail-open guard: our code never raises into the instrumented application.

``with guard("component"):`` (or ``@guarded("component")``) catches ``Exception`` (never
``BaseException``: cancellation and KeyboardInterrupt must pass), counts it per component, and logs at
most once per interval per component. Under pytest it re-raises, so a bug fails the test loudly instead
of being swallowed; tests that check containment switch that off with ``reraise_in_tests(False)``. Only
otel-agent's own test suite counts (recognised by its tests/services.py beside this package): a user's
tests of their instrumented application never see our exceptions.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

_log = logging.getLogger("otel_agent")

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_failures: Counter[str] = Counter()
_last_logged: dict[str, float] = {}
_state = {"log_interval_s": 60.0, "reraise": None}


def _in_own_test_suite() -> bool:
    """True only while otel-agent's own tests run: a user's test suite must never see our exceptions."""
    if "pytest" not in sys.modules or "PYTEST_CURRENT_TEST" not in os.environ:
        return False
    helpers = getattr(sys.modules.get("tests.services"), "__file__", None)
    repo_root = Path(__file__).resolve().parent.parent
    return helpers is not None and Path(helpers).resolve().parent.parent == repo_root


def _should_reraise() -> bool:
    forced = _state["reraise"]
    return _in_own_test_suite() if forced is None else bool(forced)


def reraise_in_tests(value: bool | None) -> None:
    """Force re-raise on/off (None: re-raise exactly when running under pytest)."""
    _state["reraise"] = value


def set_log_interval(seconds: float) -> None:
    _state["log_interval_s"] = seconds


def record_failure(component: str, exc: BaseException) -> None:
    """Count a contained failure and log it, rate-limited per component."""
    now = time.monotonic()
    with _lock:
        _failures[component] += 1
        last = _last_logged.get(component)
        due = last is None or now - last >= float(_state["log_interval_s"] or 0)
        if due:
            _last_logged[component] = now
        count = _failures[component]
    if due:
        _log.warning("otel-agent %s failed (%d so far); contained: %r", component, count, exc, exc_info=exc)


def contain(component: str, exc: Exception) -> bool:
    """For hot paths that use an inline ``except Exception``: count and log; True means re-raise."""
    record_failure(component, exc)
    return _should_reraise()


def failure_counts() -> dict[str, int]:
    """Contained failures per component since start (exposed as a metric by the metrics module)."""
    with _lock:
        return dict(_failures)


@contextmanager
def guard(component: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        record_failure(component, exc)
        if _should_reraise():
            raise


def guarded(component: str, default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form: on a contained failure the function returns ``default``."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                record_failure(component, exc)
                if _should_reraise():
                    raise
                return default

        return inner

    return wrap
