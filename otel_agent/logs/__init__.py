"""Logs correlated with traces: every record inside a span carries its ids and the run's attribution.

``install(settings)`` (run once by ``otel_agent.instrument()`` through the ``logs`` instrument hook):

* chains a record factory that stamps trace/span ids and project, stage, role, agent and run id onto
  every record made inside a span (``otel_agent.logs.stamp``);
* makes sure records reach OTLP when ``OTEL_LOGS_EXPORTER`` set up a LoggerProvider: unless a handler
  is already on the root logger, runs opentelemetry-instrumentation-logging's instrumentor (which adds
  one; ``OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false`` is honoured), or adds the SDK's handler;
* with ``OTEL_AGENT_LOG_JSON=true``, adds a one-line-JSON stdout handler to the root logger;
* lets the run events of ``RunEventLogProcessor`` (the ``run_events`` span processor) through at INFO.

docs/logs.md describes the fields and the events.
"""

from __future__ import annotations

import logging
import os
import warnings

from opentelemetry._logs import NoOpLoggerProvider, get_logger_provider

from otel_agent.logs.events import LOGGER_NAME, RunEventLogProcessor, log_run_event
from otel_agent.logs.jsonline import JsonLineFormatter, JsonLineHandler
from otel_agent.logs.stamp import install_record_factory, stamp, uninstall_record_factory
from otel_agent.settings import Settings

__all__ = [
    "JsonLineFormatter",
    "JsonLineHandler",
    "RunEventLogProcessor",
    "install",
    "install_hook",
    "install_record_factory",
    "log_run_event",
    "run_events_from_settings",
    "stamp",
    "uninstall_record_factory",
]

_log = logging.getLogger(__name__)


def install(settings: Settings | None = None) -> None:
    """Set up log correlation, OTLP and JSON output as configured (idempotent)."""
    settings = settings or Settings.from_env()
    install_record_factory()
    root = logging.getLogger()
    if settings.log_events:
        events = logging.getLogger(LOGGER_NAME)
        if events.level == logging.NOTSET:
            events.setLevel(logging.INFO)  # the root logger's default WARNING would hide run start/finish
    if settings.log_json and not any(isinstance(h, JsonLineHandler) for h in root.handlers):
        root.addHandler(JsonLineHandler())
    _ensure_otlp_handler(root)


def install_hook(settings: Settings) -> None:
    """Instrument hook (entry point ``otel_agent_instrument_hooks``: ``logs``)."""
    if settings.enabled:
        install(settings)


def run_events_from_settings(settings: Settings) -> RunEventLogProcessor | None:
    """Span-processor factory (entry point ``otel_agent_span_processors``: ``run_events``)."""
    return RunEventLogProcessor() if settings.enabled and settings.log_events else None


def _ensure_otlp_handler(root: logging.Logger) -> None:
    provider = get_logger_provider()
    if isinstance(provider, NoOpLoggerProvider) or type(provider).__name__.startswith("_Proxy"):
        return  # no OTEL_LOGS_EXPORTER: nothing to send to
    if any(_is_otel_handler(h) for h in root.handlers):
        return  # the SDK (or an earlier call) already sends root records
    if "logging" in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", ""):
        return  # the user turned log export off
    try:
        from opentelemetry.instrumentation.logging import LoggingInstrumentor
    except ImportError:
        root.addHandler(_sdk_handler(provider))
        return
    # Under opentelemetry-instrument our hook runs before the instrumentors; instrumenting now (they skip
    # a second time) gives exactly one handler whether or not opentelemetry-instrument is in use.
    instrumentor = LoggingInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def _is_otel_handler(handler: logging.Handler) -> bool:
    kind = type(handler)
    return kind.__name__ == "LoggingHandler" and kind.__module__.startswith("opentelemetry")


def _sdk_handler(provider: object) -> logging.Handler:
    from opentelemetry.sdk._logs import LoggingHandler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the only handler available then
        return LoggingHandler(logger_provider=provider)  # type: ignore[arg-type]
