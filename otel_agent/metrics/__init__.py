"""GenAI and agent metrics from enriched spans, with a cardinality guard (docs/metrics.md).

* ``MetricsSpanProcessor``: add it downstream of end-enrichment; ``from_settings`` builds it from
  ``OTEL_AGENT_METRICS_*``.
* ``record_dropped(component, n)`` / ``record_spooled(component, n)``: for our exporters and queues.
"""

from __future__ import annotations

from otel_agent.metrics.pipeline import record_dropped, record_spooled
from otel_agent.metrics.processor import METER_NAME, MetricsSpanProcessor, from_settings

__all__ = ["METER_NAME", "MetricsSpanProcessor", "from_settings", "record_dropped", "record_spooled"]
