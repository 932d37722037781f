"""otel-agent: OpenTelemetry plugins that make the standard observability stack understand AI agents."""

__version__ = "0.1.0"
