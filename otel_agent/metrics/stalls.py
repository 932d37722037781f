"""Runs the store's sweep declared stalled: ``otel_agent.runs.stalled`` (docs/metrics.md).

A stalled run's own process has usually died, so nothing in it can count the stall: the process that runs
the sweep (the sink, or an application with the SQL exporter) counts it here, and whichever meter that
process has publishes the totals (``observe_stalled``): the metrics processor's meter in an application, the
sink's own /metrics page in the sink. Cheap and safe to call before or without any MeterProvider.
Series are bounded like every other otel-agent metric: attribution labels only, and past
``MAX_SERIES`` label sets new ones fold into ``other``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_agent.metrics import names as N

MAX_SERIES = 1000
_Key = tuple[str, ...]

_lock = threading.Lock()
_stalled: Counter[_Key] = Counter()


def _label(value: Any) -> str:
    text = "" if value is None else str(value)
    return text[: N.MAX_LABEL_CHARS]


def record_stalled(attribution: Mapping[str, Any]) -> None:
    """Count one run declared stalled; ``attribution`` maps names.ATTRIBUTION_LABELS to the run's values."""
    key = tuple(_label(attribution.get(name)) for name in N.ATTRIBUTION_LABELS)
    with _lock:
        if key not in _stalled and len(_stalled) >= MAX_SERIES:
            key = (N.OTHER,) * len(N.ATTRIBUTION_LABELS)
        _stalled[key] += 1


def stalled_observations() -> list[Observation]:
    with _lock:
        totals = list(_stalled.items())
    return [Observation(count, dict(zip(N.ATTRIBUTION_LABELS, key, strict=True))) for key, count in totals]


def observe_stalled(meter: Meter) -> None:
    """Publish the stalled-run totals on ``meter`` as an observable counter."""

    def callback(_: CallbackOptions) -> Iterable[Observation]:
        return stalled_observations()

    spec = N.RUNS_STALLED
    meter.create_observable_counter(spec.name, [callback], spec.unit, spec.description)


def reset_for_tests() -> None:
    with _lock:
        _stalled.clear()
