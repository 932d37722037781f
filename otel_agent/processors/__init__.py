"""Span processors: start-time attribution, end-time enrichment, run roll-ups and in-flight markers.

``EnrichingSpanProcessor`` is the one processor installed on the TracerProvider; it wraps every other
processor (exporters' batch processors, the metrics processor) so they all see enriched spans.
"""

from otel_agent.processors.enriching import EnrichingSpanProcessor, with_attributes

__all__ = ["EnrichingSpanProcessor", "with_attributes"]
