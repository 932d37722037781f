"""Runs in flight (start marker seen, run not ended) and the time of the last run marker."""

from __future__ import annotations

from collections import Counter, OrderedDict

from otel_agent.metrics.cardinality import Attributes

SeriesKey = tuple[tuple[str, str], ...]


class InFlightRuns:
    """Counts open runs per series; bounded so runs that never end cannot grow it forever.

    Not thread-safe: used only while the metrics processor drains (one thread at a time).
    """

    def __init__(self, max_runs: int = 10_000) -> None:
        self._max_runs = max_runs
        self._runs: OrderedDict[str, tuple[SeriesKey, int]] = OrderedDict()  # run id -> (series, start)
        self._open: Counter[SeriesKey] = Counter()
        self.last_marker_unix_nano: int | None = None

    def marker(self, time_unix_nano: int) -> None:
        if self.last_marker_unix_nano is None or time_unix_nano > self.last_marker_unix_nano:
            self.last_marker_unix_nano = time_unix_nano

    def started(self, run_id: str, attrs: Attributes, start_unix_nano: int = 0) -> bool:
        """Note a run as open; False when it was already open (a repeated start marker)."""
        if run_id in self._runs:
            return False
        key = tuple(sorted(attrs.items()))
        self._runs[run_id] = (key, start_unix_nano)
        self._open[key] += 1
        if len(self._runs) > self._max_runs:
            _, (oldest, _start) = self._runs.popitem(last=False)
            self._open[oldest] -= 1
        return True

    def ended(self, run_id: str) -> bool:
        """Close a run; False when it was not open here (its start marker was never seen)."""
        found = self._runs.pop(run_id, None)
        if found is None:
            return False
        self._open[found[0]] -= 1
        return True

    def counts(self) -> list[tuple[Attributes, int]]:
        # Series whose runs all ended report 0 rather than vanish, so dashboards see the drop.
        return [(dict(key), count) for key, count in self._open.items()]

    def oldest_ages(self, now_unix_nano: int) -> list[tuple[Attributes, float]]:
        """Per series with open runs, the age in seconds of its oldest open run (alerts on overdue runs)."""
        oldest: dict[SeriesKey, int] = {}
        for key, start in self._runs.values():
            if start and (key not in oldest or start < oldest[key]):
                oldest[key] = start
        return [(dict(key), max(0.0, (now_unix_nano - start) / 1e9)) for key, start in oldest.items()]
