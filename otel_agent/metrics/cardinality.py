"""The cardinality guard: at most N label sets per metric; the rest fold into one ``other`` series."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from otel_agent.metrics.names import ENUMERATED_LABELS, MAX_LABEL_CHARS, OTHER

_log = logging.getLogger(__name__)

Attributes = dict[str, str]
LabelValues = tuple[object, ...]  # positional, aligned with the guard's label names; None = absent


class CardinalityGuard:
    """Maps label values to a cached attribute dict, folding new label sets past the limit.

    Not thread-safe: the metrics processor calls it from one draining thread at a time.
    """

    def __init__(
        self,
        metric: str,
        labels: Sequence[str],
        max_series: int,
        on_overflow: Callable[[str], None],
    ) -> None:
        self.metric = metric
        self._labels = tuple(labels)
        self._max_series = max_series
        self._on_overflow = on_overflow
        self._seen: dict[LabelValues, Attributes] = {}
        self._overflow: dict[LabelValues, Attributes] = {}
        self._enumerated = tuple(name in ENUMERATED_LABELS for name in self._labels)

    def attributes(self, values: LabelValues) -> Attributes:
        """The attributes to record under; the same dict object for the same series."""
        found = self._seen.get(values)
        if found is not None:
            return found
        if len(self._seen) < self._max_series:
            attrs = self._build(values)
            self._seen[values] = attrs
            return attrs
        self._on_overflow(self.metric)
        return self._folded(values)

    @property
    def series(self) -> int:
        return len(self._seen)

    def _folded(self, values: LabelValues) -> Attributes:
        # Enumerated labels keep their (bounded) values; every free-form label becomes "other".
        key = tuple(v if keep else OTHER for v, keep in zip(values, self._enumerated, strict=True))
        attrs = self._overflow.get(key)
        if attrs is None:
            if not self._overflow:
                _log.warning("metric %s passed %d label sets; new ones are recorded as %r",
                             self.metric, self._max_series, OTHER)
            attrs = self._build(key)
            self._overflow[key] = attrs
        return attrs

    def _build(self, values: LabelValues) -> Attributes:
        pairs = zip(self._labels, values, strict=True)
        return {name: _label_value(value) for name, value in pairs if value is not None}


def _label_value(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_LABEL_CHARS]
